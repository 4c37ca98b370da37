// The data every app serves: TechEmpower's `world` and `fortune` tables, plus `account` for
// the transaction endpoint. Dropped and made again on every run, so a reused DATABASE_URL
// always starts from the same shape.

export const WORLD_ROWS = 10_000;

// TechEmpower's twelve fortunes. The script tag checks that the HTML is escaped, the Japanese
// one that the text is UTF-8 all the way through.
export const FORTUNES = [
  [1, 'fortune: No such file or directory'],
  [2, "A computer scientist is someone who fixes things that aren't broken."],
  [3, 'After enough decimal places, nobody gives a damn.'],
  [4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'],
  [5, 'A computer program does what you tell it to do, not what you want it to do.'],
  [6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'],
  [7, 'Any program that runs right is obsolete.'],
  [8, 'A list is only as strong as its weakest link. — Donald Knuth'],
  [9, 'Feature: A bug with seniority.'],
  [10, 'Computers make very fast, very accurate mistakes.'],
  [11, '<script>alert("This should not be displayed in a browser alert box.");</script>'],
  [12, 'フレームワークのベンチマーク'],
];

/** Loads the schema through a pgwarp Pool (any driver would do; this one is at hand). */
export async function loadSchema(pool) {
  await pool.exec(`
    drop table if exists world, fortune, account;
    create table world (id int primary key, randomnumber int not null);
    create table fortune (id int primary key, message text not null);
    create table account (id int primary key, balance bigint not null);
    insert into world select i, 1 + floor(random() * ${WORLD_ROWS})::int from generate_series(1, ${WORLD_ROWS}) i;
    insert into account select i, 0 from generate_series(1, ${WORLD_ROWS}) i;
  `);
  await pool.query('insert into fortune select * from unnest($1::int[], $2::text[])', [FORTUNES.map((f) => f[0]), FORTUNES.map((f) => f[1])]).execute();
  await pool.query('vacuum analyze world, fortune, account').execute();
}
