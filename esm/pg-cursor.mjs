// ESM entry of pgwarp/pg-cursor: the class, as pg-cursor's default export.
import Cursor from '../dist/pg/pg-cursor.js';

export default Cursor;
