// pg-query-stream's ESM surface, served by pgwarp's engine.
export { default } from 'pgwarp/pg-query-stream';
