// The package step of scripts/test.sh (`npm run test:package`): only test/package/, which the main jest config leaves
// out because packing rewrites dist/ and prebuilds/ that the other test files load.
const base = require('../../jest.config.js');

module.exports = { ...base, rootDir: '../..', roots: ['<rootDir>/test/package'], testPathIgnorePatterns: ['/node_modules/'] };
