import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    globalSetup: ['__test__/global-setup.ts'],
    // `pg` resolves to pgwarp/pg in the tests' processes, as an npm alias makes it for users.
    setupFiles: ['__test__/pg-alias.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
