// Drives the gateway console in headless Chromium (Debian's `chromium`, through playwright-core):
//   node check.js CONSOLE_URL ROUTE TARGET SCREENSHOT
// Opens the console, waits until it lists ROUTE and records traffic, prints "ready", waits until the live traffic
// shows a request for TARGET (which the test sends after "ready"), then prints the page's text
// and saves a screenshot. Exits non-zero if either does not appear in time.
"use strict";
const { chromium } = require("playwright-core");

async function main() {
  const [url, route, target, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(url);
    await page.locator("#routes tbody td", { hasText: route }).first().waitFor({ timeout: 20000 });
    // The console has asked for traffic once: the gateway records requests from now on.
    await page.locator("body[data-watching]").waitFor({ timeout: 20000 });
    console.log("ready");
    await page.locator("#traffic tbody td", { hasText: target }).first().waitFor({ timeout: 20000 });
    // One plot per route that served traffic.
    await page.locator("#latency .plot canvas").first().waitFor({ timeout: 20000 });
    console.log(await page.innerText("body"));
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
