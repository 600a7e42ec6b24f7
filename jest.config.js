/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/package/ packs this checkout (npm pack runs tsc into dist/ and writes prebuilds/, both of which other test
  // files load), so it runs alone, as its own step of scripts/test.sh: `npm run test:package` (test/package/jest.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/package/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }] },
  // Each worker loads libtorch (~200 MB); the machines this targets have 2 cores.
  maxWorkers: 2,
  testTimeout: 120000,
  // The suites run on the addon's test build (build/Test/xclip.node: the same sources plus debug hooks).
  setupFiles: ['<rootDir>/test/helpers/testAddon.ts'],
  // Fails a file that leaves native calls running (node's exit, and so the jest worker's, would wait for them).
  setupFilesAfterEnv: ['<rootDir>/test/helpers/settle.ts'],
};
