// pg-query-stream's module, served by pgwarp's engine.
module.exports = require('pgwarp/pg-query-stream');
