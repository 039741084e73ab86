// Drives the installed extension inside real VS Code (code-server) with headless Chromium:
// the workbench loads, the extension starts `scry lsp`, the status bar reports the index, and
// "Scry: Search" shows live results for a description and opens the chosen one.
//   node e2e/drive.js URL SCREENSHOT_DIR
const { chromium } = require("playwright-core");

async function main() {
  const [url, shots] = process.argv.slice(2);
  const profile = require("fs").mkdtempSync(require("path").join(require("os").tmpdir(), "scry-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    viewport: { width: 1280, height: 800 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = browser.pages()[0] || (await browser.newPage());
  try {
    await page.goto(url);
    await page.waitForSelector(".monaco-workbench .part.statusbar", { timeout: 60000 });
    // The extension's status bar item reports the ready index.
    await page.waitForSelector('.statusbar-item:has-text("Scry:")', { timeout: 60000 });
    await page.waitForFunction(
      () => [...document.querySelectorAll(".statusbar-item")].some((e) => /Scry: [\d,]+ chunks/.test(e.textContent)),
      null, { timeout: 60000 });
    console.log("status bar ok");

    await page.keyboard.press("F1");
    await page.waitForSelector(".quick-input-widget input");
    await page.fill(".quick-input-widget input", ">Scry: Search");
    await page.waitForSelector('.quick-input-list .monaco-list-row:has-text("Scry: Search")');
    await page.keyboard.press("Enter");
    await page.waitForSelector('.quick-input-widget input[placeholder*="Describe the code"]');
    await page.keyboard.type("retry a failed upload");
    const row = '.quick-input-list .monaco-list-row:has-text("retry_upload")';
    await page.waitForSelector(row, { timeout: 30000 });
    const first = await page.textContent(".quick-input-list .monaco-list-row");
    if (!first.includes("retry_upload")) throw new Error(`first result: ${first}`);
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${shots}/vscode-search.png` });
    console.log("search ok");
    await page.keyboard.press("Enter");
    await page.waitForSelector('.tab.active:has-text("retry.py")', { timeout: 30000 });
    console.log("open ok");
    console.log("PASS");
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error("FAIL:", e.message);
  process.exit(1);
});
