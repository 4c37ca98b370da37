import Default = require('pgwarp/pg-cursor');

export = Default;
