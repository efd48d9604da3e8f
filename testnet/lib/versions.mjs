// Reads the installed version of each package from testnet/node_modules/<pkg>/package.json.
// The recorders put these into every vector file so a file always says which JS
// code produced it.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const TESTNET_DIR = join(dirname(fileURLToPath(import.meta.url)), '..')

export function installedVersion (pkg) {
  const file = join(TESTNET_DIR, 'node_modules', ...pkg.split('/'), 'package.json')
  return JSON.parse(readFileSync(file, 'utf8')).version
}

export function installedVersions (pkgs) {
  const out = {}
  for (const pkg of pkgs) out[pkg] = installedVersion(pkg)
  return out
}
