// node-postgres (pg)'s module, served by pgwarp's engine.
module.exports = require('pgwarp/pg');
