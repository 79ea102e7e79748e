// The OpenID Connect login and logout in headless Chromium (Debian's `chromium`, through
// playwright-core), clicked through as a person would:
//   node chromium.js GATEWAY_ORIGIN USER
// Opens GATEWAY_ORIGIN/app/profile, logs in as USER on the provider's form, consents, reads
// the page the gateway serves, then logs out through /app/logout and confirms at the provider.
// Prints { profile, afterLogout, byePage } as JSON.
"use strict";
const { chromium } = require("playwright-core");

async function main() {
  const [origin, user] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    // The provider's certificate comes from the test's own CA.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    page.setDefaultTimeout(20000);
    await page.goto(`${origin}/app/profile`);
    await page.locator('input[name="login"]').fill(user);
    await page.locator('input[name="password"]').fill("any password");
    await page.locator('button[type="submit"]').click();
    // Consent to the scopes the gateway asks for.
    await page.locator('button[type="submit"]').click();
    await page.waitForURL(`${origin}/app/profile`);
    const profile = await page.innerText("body");

    await page.goto(`${origin}/app/logout?postLogoutUrl=%2Fbye`);
    await page.locator('button[name="logout"]').click();
    await page.waitForURL(`${origin}/app/bye`);
    const byePage = (await page.innerText("body")).trim();
    console.log(JSON.stringify({ profile, afterLogout: page.url(), byePage }));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
