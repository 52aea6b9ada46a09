// Drives GrowFit's own web front end (GF_Frontend, built against classhub) in headless
// Chromium, as its users would: a partner signs in, creates, edits, lists and deletes classes
// with the form; a student signs up with the emailed code, redeems a class's code through the
// six boxes, sees the class and leaves it. A screenshot per step goes to $SCREENSHOTS.
//
// Environment: API (classhub's base URL), FRONT (the front end's), ADMIN (classhub's admin
// token), MAIL_DIR (where classhub writes emails), SCREENSHOTS, CHROMIUM (the browser).
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

const { API, FRONT, ADMIN, MAIL_DIR, SCREENSHOTS, CHROMIUM } = process.env;
const PARTNER = { name: 'Park Partner', email: 'partner@growfit-e2e.io', password: 'partner-pass-1' };
const STUDENT = { name: 'Kim Student', email: 'student@growfit-e2e.io', password: 'student-pass-1' };
const COURSE = 'Python 기초';

let step = 0;
const log = (text) => console.log(`ok   ${text}`);
function fail(text) {
  console.error(`FAIL ${text}`);
  process.exit(1);
}

async function api(method, path, { token, body } = {}) {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch {}
  return { status: res.status, json, text };
}

async function expectApi(status, method, path, options) {
  const r = await api(method, path, options);
  if (r.status !== status) fail(`${method} ${path}: expected ${status}, got ${r.status}: ${r.text}`);
  return r.json;
}

/// What classhub needs before anyone opens the front end: GrowFit's model catalogue (the
/// form always adds model 4), a partner with a password, and a course of theirs.
async function seed() {
  for (const [name, provider] of [['gpt-4o-mini', 'openai'], ['gemini-2.5-flash', 'google'], ['exaone-4.0', 'lg'],
    ['claude-3-haiku', 'anthropic']]) {
    await expectApi(201, 'POST', '/admin/v1/models', { token: ADMIN, body: { name, provider } });
  }
  const partner = await expectApi(201, 'POST', '/admin/v1/partners', { token: ADMIN, body: PARTNER });
  const login = await expectApi(200, 'POST', '/user/login', { body: { email: PARTNER.email, password: PARTNER.password } });
  await expectApi(201, 'POST', `/partner/${partner.id}/course`,
    { token: login.access_token, body: { title: COURSE, course_key: 'py-101' } });
  log(`seeded: 4 models, partner ${partner.id}, course "${COURSE}"`);
  return partner;
}

async function shot(page, name) {
  step += 1;
  const file = join(SCREENSHOTS, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log(`screenshot ${file}`);
}

/// Clicks the first element matching `selector` whose text contains `text`.
async function clickText(page, selector, text) {
  await page.waitForFunction((s, t) => [...document.querySelectorAll(s)].some((e) => e.textContent.includes(t)),
    { timeout: 15000 }, selector, text);
  await page.evaluate((s, t) => [...document.querySelectorAll(s)].find((e) => e.textContent.includes(t)).click(), selector, text);
}

/// Sets a React-controlled input's value as typing would (date inputs cannot be typed
/// into the same way in every locale).
async function setValue(page, selector, value) {
  await page.evaluate((s, v) => {
    const input = document.querySelector(s);
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
    setter.call(input, v);
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.dispatchEvent(new Event('change', { bubbles: true }));
  }, selector, value);
}

async function typeInto(page, selector, text) {
  await page.waitForSelector(selector, { visible: true, timeout: 15000 });
  // Select everything the field holds (a triple click misses parts of spaced or numeric
  // values), delete it, then type as a user would.
  await page.focus(selector);
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  await page.type(selector, text);
}

async function waitText(page, text, timeout = 15000) {
  await page.waitForFunction((t) => document.body.innerText.includes(t), { timeout }, text);
}

function watch(page, who) {
  const dialogs = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    log(`${who}: dialog "${d.message()}" accepted`);
    await d.accept();
  });
  page.on('pageerror', (e) => console.log(`     ${who} page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.url().startsWith(API) && r.status() >= 400 && r.request().method() !== 'OPTIONS') {
      console.log(`     ${who}: ${r.request().method()} ${r.url()} -> ${r.status()}`);
    }
  });
  return dialogs;
}

/// Signs in through the login page; lands on the profile page.
async function signIn(page, who) {
  await page.goto(`${FRONT}/login`, { waitUntil: 'networkidle0' });
  await typeInto(page, '#email', who.email);
  await typeInto(page, '#password', who.password);
  await shot(page, `${who === PARTNER ? 'partner' : 'student'}-login`);
  await page.click('button[type=submit].btn-auth--primary');
  await page.waitForFunction(() => location.pathname === '/user/profile', { timeout: 15000 });
  log(`${who.email} signed in`);
}

/// Fills and submits the class form; returns the invite code the success modal shows.
async function createClass(page, name) {
  await clickText(page, 'button', '신규 강의 생성');
  await page.waitForSelector('#createProjectModal.modal--active', { timeout: 15000 });
  await typeInto(page, '#ClassName', name);
  await typeInto(page, '#courseName', COURSE.slice(0, 3));
  await page.waitForSelector('.autocomplete-item', { visible: true, timeout: 15000 });
  await clickText(page, '.autocomplete-item', COURSE);
  // Model 1 besides the required model 4 (the checkbox itself is hidden behind its card).
  await page.evaluate(() => document.querySelector('input[name=llm][value="1"]').closest('label').click());
  await typeInto(page, '#studentCount', '30');
  await setValue(page, '#startDate', '2030-03-02');
  await setValue(page, '#endDate', '2030-03-06');
  await typeInto(page, '#ClassDescription', 'Made through GrowFit\'s own form');
  await shot(page, `class-form-${name}`);
  await page.click('button[type=submit][form=createClassForm]');
  await page.waitForSelector('#courseCreatedModal.modal--active', { timeout: 15000 });
  const code = await page.$eval('#generatedInviteCode', (e) => e.value);
  if (!/^[A-Z2-9]{6}$/.test(code)) fail(`the invite code shown is ${JSON.stringify(code)}`);
  await shot(page, `class-created-${name}`);
  await clickText(page, '#courseCreatedModal button', '확인');
  log(`class "${name}" created, code ${code}`);
  return code;
}

/// Opens a class's code modal from its card.
async function openCard(page, name) {
  await page.waitForFunction((n) => [...document.querySelectorAll('.project-card')]
    .some((c) => c.querySelector('.project-card__title')?.textContent.trim() === n), { timeout: 15000 }, name);
  await page.evaluate((n) => [...document.querySelectorAll('.project-card')]
    .find((c) => c.querySelector('.project-card__title').textContent.trim() === n)
    .querySelector('.project-action-btn--primary').click(), name);
  await page.waitForSelector('#inviteCodeModal.modal--active', { timeout: 15000 });
}

async function cardTitles(page) {
  return page.$$eval('.project-card .project-card__title', (es) => es.map((e) => e.textContent.trim()));
}

async function partnerFlow(browser, partner) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  const dialogs = watch(page, 'partner');
  await signIn(page, PARTNER);
  // The header learns the partner id from /user/my and offers the instructor's side.
  await page.waitForSelector('.header__mode-toggle', { timeout: 15000 });
  await shot(page, 'partner-profile');
  await clickText(page, '.mode-toggle-btn', '강사');
  await page.waitForFunction(() => location.pathname === '/partner/project-management', { timeout: 15000 });
  await page.waitForSelector('.partner-enrollment-guide, .projects-grid', { timeout: 15000 });
  await shot(page, 'partner-classes-empty');

  const code = await createClass(page, 'RAG 구축');
  await createClass(page, '삭제할 강의');
  await page.waitForFunction(() => document.querySelectorAll('.project-card').length === 2, { timeout: 15000 });
  await shot(page, 'partner-classes-two');

  // Edit the first: rename it through the edit form.
  await openCard(page, 'RAG 구축');
  await clickText(page, '#inviteCodeModal button', '수정');
  await page.waitForSelector('#editClassModal.modal--active', { timeout: 15000 });
  await typeInto(page, '#editClassName', 'RAG 구축 (심화)');
  await typeInto(page, '#editStudentCount', '40');
  await shot(page, 'class-edit-form');
  await page.click('button[type=submit][form=editClassForm]');
  await page.waitForSelector('.toast--success', { timeout: 15000 });
  await page.waitForFunction(() => [...document.querySelectorAll('.project-card__title')]
    .some((e) => e.textContent.trim() === 'RAG 구축 (심화)'), { timeout: 15000 });
  await shot(page, 'class-edited');
  log('class renamed through the edit form');

  // Delete the second.
  await openCard(page, '삭제할 강의');
  await clickText(page, '#inviteCodeModal button', '삭제');
  await page.waitForSelector('#confirm-overlay [data-action=confirm]', { visible: true, timeout: 15000 });
  await page.click('#confirm-overlay [data-action=confirm]');
  await page.waitForFunction(() => document.querySelectorAll('.project-card').length === 1, { timeout: 15000 });
  const titles = await cardTitles(page);
  if (JSON.stringify(titles) !== JSON.stringify(['RAG 구축 (심화)'])) fail(`classes listed: ${JSON.stringify(titles)}`);
  await shot(page, 'class-deleted');
  log('class deleted; the list shows the one left');

  // What the front end did, as classhub holds it.
  const token = await page.evaluate(() => sessionStorage.getItem('access_token'));
  const list = await expectApi(200, 'GET', `/partner/${partner.id}/classes`, { token });
  const [cls] = list.items;
  if (list.total !== 1 || cls.name !== 'RAG 구축 (심화)' || cls.capacity !== 40) fail(`classhub holds ${JSON.stringify(list)}`);
  if (!cls.invite_codes.some((c) => c.code === code)) fail(`the code ${code} is not the class's: ${JSON.stringify(cls.invite_codes)}`);
  // The edit form sends the models in the order they were ticked; classhub keeps that order.
  if (JSON.stringify([...cls.allowed_model_ids].sort()) !== '[1,4]') fail(`models ${JSON.stringify(cls.allowed_model_ids)}`);
  if (dialogs.length) fail(`unexpected dialogs: ${JSON.stringify(dialogs)}`);
  await context.close();
  return code;
}

/// The 6-digit code of the newest email to `email` in the mail directory.
async function emailedCode(email, after) {
  for (let i = 0; i < 150; i++) {
    const files = (await readdir(MAIL_DIR).catch(() => [])).filter((f) => f.endsWith('.eml')).sort();
    for (const f of files.reverse()) {
      const raw = (await readFile(join(MAIL_DIR, f), 'utf8')).replace(/=\r?\n/g, '');
      if (!raw.toLowerCase().includes(`to: ${email}`)) continue;
      const code = raw.match(/\b(\d{6})\b/);
      if (code && code[1] !== after) return code[1];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`no verification code emailed to ${email}`);
}

async function studentFlow(browser, code) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  const dialogs = watch(page, 'student');
  await page.goto(`${FRONT}/signup/user`, { waitUntil: 'networkidle0' });
  await typeInto(page, '#name', STUDENT.name);
  await typeInto(page, '#email', STUDENT.email);
  await clickText(page, 'button.btn-verify', '인증번호 발송');
  await page.waitForSelector('#verifyCode', { visible: true, timeout: 15000 });
  const emailed = await emailedCode(STUDENT.email);
  await typeInto(page, '#verifyCode', emailed);
  await shot(page, 'signup-code');
  await clickText(page, 'button.btn-verify', '인증확인');
  await waitText(page, '이메일 인증이 완료되었습니다');
  log(`email verified with the emailed code ${emailed}`);
  await typeInto(page, '#password', STUDENT.password);
  await typeInto(page, '#passwordConfirm', STUDENT.password);
  await page.click('#termsAgree');
  await shot(page, 'signup-filled');
  await page.click('button[type=submit].btn-submit');
  await page.waitForFunction(() => location.pathname === '/login', { timeout: 15000 });
  log('signed up');

  await signIn(page, STUDENT);
  await clickText(page, 'button.btn-add-class', '새 강의 등록');
  await page.waitForSelector('.invite-code-input', { visible: true, timeout: 15000 });
  await page.focus('.invite-code-input');
  await page.keyboard.type(code);
  await shot(page, 'redeem-six-boxes');
  await page.click('#submitBtn');
  await page.waitForSelector('.toast--success', { timeout: 15000 });
  await page.waitForFunction(() => [...document.querySelectorAll('#classList .class-card .class-card__title')]
    .some((e) => e.textContent.trim() === 'RAG 구축 (심화)'), { timeout: 15000 });
  await shot(page, 'student-class-listed');
  log('the code, typed into the six boxes, enrolled the student; the class is listed');

  await clickText(page, '.class-card__action-btn--danger', '삭제');
  await page.waitForSelector('#confirm-overlay [data-action=confirm]', { visible: true, timeout: 15000 });
  await page.click('#confirm-overlay [data-action=confirm]');
  await waitText(page, '등록된 강의가 없습니다');
  await shot(page, 'student-left');
  log('the student left the class');
  const token = await page.evaluate(() => sessionStorage.getItem('access_token'));
  const mine = await expectApi(200, 'GET', '/user/classes', { token });
  if (mine.total !== 0) fail(`after leaving: ${JSON.stringify(mine)}`);
  if (dialogs.length) fail(`unexpected dialogs: ${JSON.stringify(dialogs)}`);
  await context.close();
}

await mkdir(SCREENSHOTS, { recursive: true });
const partner = await seed();
const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
try {
  const code = await partnerFlow(browser, partner);
  await studentFlow(browser, code);
} finally {
  await browser.close();
}
console.log('all GrowFit front-end checks passed');
