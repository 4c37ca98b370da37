/**
 * `pgwarp/pg-query-stream`: pg-query-stream's module (the class itself).
 * @module
 */
import { QueryStream } from './query-stream';

export = QueryStream;
