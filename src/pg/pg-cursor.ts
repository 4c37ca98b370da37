/**
 * `pgwarp/pg-cursor`: pg-cursor's module (the class itself, as `require('pg-cursor')` gives).
 * @module
 */
import { Cursor } from './cursor';

export = Cursor;
