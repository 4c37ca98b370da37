import Default = require('pgwarp/pg-query-stream');

export = Default;
