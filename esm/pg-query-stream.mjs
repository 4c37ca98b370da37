// ESM entry of pgwarp/pg-query-stream: the class, as pg-query-stream's default export.
import QueryStream from '../dist/pg/pg-query-stream.js';

export default QueryStream;
