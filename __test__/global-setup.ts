import type { TestProject } from 'vitest/node';

import { startPostgres, type PostgresServer } from '../src/testing';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    /** Set when the tests started the server themselves (so they may configure it). */
    socketDir: string | null;
  }
}

/** Roles whose logins use each password method; the auth tests create them. */
export const AUTH_HBA = [
  'host all pw_plain 127.0.0.1/32 password',
  'host all pw_md5 127.0.0.1/32 md5',
  'host all pw_scram 127.0.0.1/32 scram-sha-256',
];

let server: PostgresServer | undefined;

export default async function setup(project: TestProject) {
  if (process.env.DATABASE_URL) {
    project.provide('databaseUrl', process.env.DATABASE_URL);
    project.provide('socketDir', null);
    return;
  }
  server = await startPostgres({ hba: AUTH_HBA });
  project.provide('databaseUrl', server.url);
  project.provide('socketDir', server.socketDir);
  return async () => {
    await server?.stop();
  };
}
