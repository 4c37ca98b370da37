// pg-cursor's ESM surface, served by pgwarp's engine.
export { default } from 'pgwarp/pg-cursor';
