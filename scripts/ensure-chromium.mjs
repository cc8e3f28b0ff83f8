// `npm test` runs browser tests (the web app, the IndexedDB transport, previews) in Debian's Chromium.
// Find it, or install it when this machine can (root with apt-get), or say exactly what to run.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
if (existsSync(path)) process.exit(0)

const canApt = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')
if (canApt && process.env.TRUSS_NO_BROWSER_INSTALL !== '1') {
  console.log(`[pretest] ${path} is missing: installing Debian's chromium (apt-get install -y chromium)…`)
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' })
    execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
  } catch {
    // Reported below.
  }
  if (existsSync(path)) process.exit(0)
}
console.error(
  `[pretest] Chromium is needed for the browser tests and ${path} does not exist.\n` +
    `  Install it:  sudo apt-get install -y chromium   (Debian/Ubuntu)\n` +
    `  or point CHROMIUM_PATH at a Chromium or Chrome binary, then run npm test again.`,
)
process.exit(1)
