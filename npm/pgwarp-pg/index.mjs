// node-postgres's ESM surface, served by pgwarp's engine.
export * from 'pgwarp/pg';
export { default } from 'pgwarp/pg';
