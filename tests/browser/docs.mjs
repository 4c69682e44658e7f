// Renders a running data plane's /docs in headless Debian Chromium and checks it, by hand (not in CI:
// it needs npm). Set up once in a temporary folder:
//   apt-get install chromium; cd $(mktemp -d) && npm install playwright-core@1
// then: NODE_PATH=$PWD/node_modules node /path/to/tests/browser/docs.mjs http://127.0.0.1:8080 [out-dir]
// It fails unless every path of openapi.json is listed with no script error, and leaves
// docs-top.png and docs-schema.png (a followed schema link) in out-dir to look at.
import { createRequire } from 'node:module';
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + '/' : import.meta.url);
const { chromium } = require('playwright-core');

const base = process.argv[2] || 'http://127.0.0.1:8080';
const out = process.argv[3] || '.';
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
const errors = [];
page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
page.on('pageerror', (e) => errors.push(String(e)));
await page.goto(`${base}/docs`);
await page.waitForSelector('body[data-rendered]', { timeout: 10000 });
const spec = await (await fetch(`${base}/openapi.json`)).json();
const expected = Object.entries(spec.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`));
const listed = await page.$$eval('section.op', (s) => s.map((x) => `${x.querySelector('.method').textContent} ${x.querySelector('.path').textContent}`));
await page.screenshot({ path: `${out}/docs-top.png` });
await page.click('a[href="#schema-CreateChatCompletionRequest"] >> nth=1');
await page.screenshot({ path: `${out}/docs-schema.png` });
await browser.close();
const missing = expected.filter((op) => !listed.includes(op));
console.log(JSON.stringify({ listed: listed.length, missing, errors }));
if (missing.length || errors.length) process.exit(1);
