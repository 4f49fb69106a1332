// Loads a report's index.html in headless Chromium and fails when an image
// does not load, a request fails, or the console shows an error.
// Usage: node .ci/check-report.mjs REPORT_DIR [MIN_IMAGES]   (NODE_PATH must reach playwright-core)
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const dir = path.resolve(process.argv[2]);
const minImages = Number(process.argv[3] || 6);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
const page = await browser.newPage();
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
// The page alone, copied away from its folder: it must carry every chart itself.
const alone = fs.mkdtempSync(path.join(os.tmpdir(), 'rollsim-page-'));
fs.copyFileSync(path.join(dir, 'index.html'), path.join(alone, 'index.html'));
await page.goto('file://' + path.join(alone, 'index.html'), { waitUntil: 'load' });
const images = await page.$$eval('img', (imgs) => imgs.map((i) => ({ src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0 })));
for (const i of images) if (!i.ok) problems.push(`image did not load: ${i.src}`);
if (images.length < minImages) problems.push(`only ${images.length} images on the page`);
await page.screenshot({ path: path.join(process.env.TMPDIR || '/tmp', `rollsim-${path.basename(dir)}.png`), fullPage: false });
await browser.close();
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`index.html OK: ${images.length} images loaded from the page alone, no console errors`);
