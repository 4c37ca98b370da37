export * from 'pgwarp/pg';
export { default } from 'pgwarp/pg';
