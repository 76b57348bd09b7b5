// auth.js — sign-up with the emailed code, login (with Kakao/Google when
// the server has them), password reset, and choosing the neighborhood
// (시/도 → 시/군/구 from the server's own region table).

import { h, set, field, toast, spinner } from './ui.js';
import { api, login, currentUser, setAddress } from './api.js';
import { go } from './nav.js';
import { pickRegion, pickedRegion } from './feed.js';

// Shows an ApiError next to the field its code names (codes like
// INVALID_EMAIL, CODE_MISMATCH), else in the form's own error line.
export function showError(e, fields, formErr) {
  const code = e.code || '';
  for (const [key, f] of Object.entries(fields)) {
    if (code.includes(key)) { f.error(e.message); f.input.focus(); return; }
  }
  formErr.textContent = e.message;
}

function clearErrors(fields, formErr) {
  for (const f of Object.values(fields)) f.error('');
  formErr.textContent = '';
}

function formErrLine() { return h('p.field-error', { role: 'alert' }); }

function safeNext(q) {
  const n = q.get('next') || '/';
  return n.startsWith('/') && !n.startsWith('//') ? n : '/';
}

let providers = null;
async function socialButtons() {
  if (!providers) {
    try { providers = (await api('GET', '/account/providers')).providers || []; } catch { providers = []; }
  }
  if (!providers.length) return null;
  return h('div.stack',
    h('p.or', '또는'),
    providers.includes('kakao') ? h('a.btn.block.kakao', { href: '/account/kakao', 'data-external': '' }, '카카오로 시작하기') : null,
    providers.includes('google') ? h('a.btn.block.google', { href: '/account/google', 'data-external': '' }, 'Google로 시작하기') : null);
}

export async function loginPage(main, { query }) {
  document.title = '로그인 · 동물마켓';
  if (currentUser()) { go(safeNext(query), { replace: true }); return; }
  const email = field('이메일', 'input', { type: 'email', autocomplete: 'username', required: true, inputmode: 'email' });
  const pw = field('비밀번호', 'input', { type: 'password', autocomplete: 'current-password', required: true });
  const err = formErrLine();
  const btn = h('button.btn.primary.block', { type: 'submit' }, '로그인');
  const fields = { EMAIL: email, PASSWORD: pw };
  const form = h('form', { novalidate: true, on: { submit: async (e) => {
    e.preventDefault();
    clearErrors(fields, err);
    if (!email.input.value.trim()) { email.error('이메일을 입력해 주세요.'); email.input.focus(); return; }
    if (!pw.input.value) { pw.error('비밀번호를 입력해 주세요.'); pw.input.focus(); return; }
    btn.disabled = true;
    try {
      const u = await login(email.input.value.trim(), pw.input.value);
      toast(`${u.nickname}님, 반가워요!`);
      go(u.address ? safeNext(query) : '/region', { replace: true });
    } catch (ex) {
      showError(ex, fields, err);
    } finally { btn.disabled = false; }
  } } }, email.wrap, pw.wrap, err, btn);
  const card = h('div.form-card',
    h('h1', '동물마켓 로그인'),
    h('p.lead', '우리 동네 물물교환, 이메일로 시작해요.'),
    form,
    h('p', h('a.link-btn', { href: '/signup' }, '회원가입'), ' · ', h('a.link-btn', { href: '/password' }, '비밀번호 찾기')));
  set(main, card);
  email.input.focus();
  const social = await socialButtons();
  if (social) card.appendChild(social);
}

export async function signupPage(main) {
  document.title = '회원가입 · 동물마켓';
  const card = h('div.form-card');
  set(main, card);
  const state = { email: '' };

  function stepEmail() {
    const email = field('이메일', 'input', { type: 'email', autocomplete: 'email', required: true, inputmode: 'email', value: state.email });
    const err = formErrLine();
    const btn = h('button.btn.primary.block', { type: 'submit' }, '인증번호 받기');
    set(card, h('h1', '회원가입'), h('p.lead', '이메일로 6자리 인증번호를 보내 드려요.'),
      h('form', { novalidate: true, on: { submit: async (e) => {
        e.preventDefault();
        clearErrors({ EMAIL: email }, err);
        const v = email.input.value.trim();
        if (!v) { email.error('이메일을 입력해 주세요.'); email.input.focus(); return; }
        btn.disabled = true;
        try {
          await api('POST', '/account/mail', { email: v });
          state.email = v;
          stepCode();
        } catch (ex) { showError(ex, { EMAIL: email }, err); } finally { btn.disabled = false; }
      } } }, email.wrap, err, btn),
      h('p', '이미 계정이 있나요? ', h('a.link-btn', { href: '/login' }, '로그인')));
    email.input.focus();
  }

  function stepCode() {
    const code = field('인증번호 6자리', 'input', { inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, pattern: '[0-9]*', required: true });
    const err = formErrLine();
    set(card, h('h1', '인증번호 입력'), h('p.lead', `${state.email}(으)로 보낸 인증번호를 입력해 주세요. 10분 동안 유효해요.`),
      h('form', { novalidate: true, on: { submit: async (e) => {
        e.preventDefault();
        clearErrors({ CODE: code }, err);
        const v = code.input.value.trim();
        if (!/^\d{6}$/.test(v)) { code.error('인증번호는 6자리 숫자입니다.'); code.input.focus(); return; }
        try {
          await api('POST', '/account/mail/check', { email: state.email, authchkNum: Number(v) });
          stepProfile();
        } catch (ex) { showError(ex, { CODE: code }, err); }
      } } }, code.wrap, err, h('button.btn.primary.block', { type: 'submit' }, '확인')),
      h('p', h('button.link-btn', { type: 'button', on: { click: async () => {
        clearErrors({ CODE: code }, err);
        try {
          await api('POST', '/account/mail', { email: state.email });
          toast('인증번호를 다시 보냈어요.');
        } catch (ex) { err.textContent = ex.message; }
      } } }, '인증번호 다시 받기'), ' · ',
      h('button.link-btn', { type: 'button', on: { click: stepEmail } }, '이메일 다시 입력')));
    code.input.focus();
  }

  function stepProfile() {
    const nick = field('닉네임 (2~20자)', 'input', { autocomplete: 'nickname', maxlength: 20, required: true });
    const pw = field('비밀번호', 'input', { type: 'password', autocomplete: 'new-password', required: true });
    const hint = h('p.hint', '영문과 숫자를 포함해 8자 이상');
    pw.wrap.appendChild(hint);
    const err = formErrLine();
    const fields = { NICKNAME: nick, PASSWORD: pw, EMAIL: { error: (t) => { err.textContent = t; }, input: nick.input } };
    const btn = h('button.btn.primary.block', { type: 'submit' }, '가입하기');
    set(card, h('h1', '거의 다 됐어요'), h('p.lead', '이웃에게 보일 닉네임과 비밀번호를 정해 주세요.'),
      h('form', { novalidate: true, on: { submit: async (e) => {
        e.preventDefault();
        clearErrors({ NICKNAME: nick, PASSWORD: pw }, err);
        btn.disabled = true;
        try {
          await api('POST', '/account', { email: state.email, nickname: nick.input.value.trim(), password: pw.input.value });
          await login(state.email, pw.input.value);
          toast('가입을 환영해요! 내 동네를 골라 주세요.');
          go('/region', { replace: true });
        } catch (ex) { showError(ex, fields, err); } finally { btn.disabled = false; }
      } } }, nick.wrap, pw.wrap, err, btn));
    nick.input.focus();
  }

  stepEmail();
  const social = await socialButtons();
  if (social) main.appendChild(h('div.form-card', social));
}

export async function passwordPage(main) {
  document.title = '비밀번호 찾기 · 동물마켓';
  const card = h('div.form-card');
  set(main, card);
  let who = '';

  function stepEmail() {
    const email = field('가입한 이메일', 'input', { type: 'email', autocomplete: 'email', required: true });
    const err = formErrLine();
    set(card, h('h1', '비밀번호 찾기'), h('p.lead', '가입한 이메일로 인증번호를 보내 드려요.'),
      h('form', { novalidate: true, on: { submit: async (e) => {
        e.preventDefault();
        clearErrors({ EMAIL: email }, err);
        const v = email.input.value.trim();
        if (!v) { email.error('이메일을 입력해 주세요.'); email.input.focus(); return; }
        try {
          await api('POST', '/account/sendpassword', { email: v });
          who = v;
          stepReset();
        } catch (ex) { showError(ex, { EMAIL: email }, err); }
      } } }, email.wrap, err, h('button.btn.primary.block', { type: 'submit' }, '인증번호 받기')));
    email.input.focus();
  }

  function stepReset() {
    const code = field('인증번호 6자리', 'input', { inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, required: true });
    const pw = field('새 비밀번호', 'input', { type: 'password', autocomplete: 'new-password', required: true });
    const err = formErrLine();
    const fields = { CODE: code, PASSWORD: pw };
    set(card, h('h1', '새 비밀번호'), h('p.lead', `${who}(으)로 보낸 인증번호와 새 비밀번호를 입력해 주세요.`),
      h('form', { novalidate: true, on: { submit: async (e) => {
        e.preventDefault();
        clearErrors(fields, err);
        const v = code.input.value.trim();
        if (!/^\d{6}$/.test(v)) { code.error('인증번호는 6자리 숫자입니다.'); code.input.focus(); return; }
        try {
          await api('POST', '/account/changepassword', { email: who, passwordchkNum: Number(v), newpassword: pw.input.value });
          toast('비밀번호를 바꿨어요. 새 비밀번호로 로그인해 주세요.');
          go('/login', { replace: true });
        } catch (ex) { showError(ex, fields, err); }
      } } }, code.wrap, pw.wrap, err, h('button.btn.primary.block', { type: 'submit' }, '비밀번호 바꾸기')));
    code.input.focus();
  }
  stepEmail();
}

let regionTable = null;
export async function regionPage(main) {
  document.title = '내 동네 설정 · 동물마켓';
  set(main, spinner());
  if (!regionTable) regionTable = (await api('GET', '/regions')).regions;
  const u = currentUser();
  const cur = (u ? u.address : pickedRegion()) || '';
  const [cp, cd] = cur.split(' ');
  const prov = field('시/도', 'select', {}, [h('option', { value: '' }, '시/도 선택'),
    regionTable.map((r) => h('option', { value: r.province, selected: r.province === cp }, r.province))]);
  const dist = field('시/군/구', 'select', { disabled: true }, []);
  function fill() {
    const r = regionTable.find((x) => x.province === prov.input.value);
    set(dist.input, h('option', { value: '' }, '시/군/구 선택'),
      (r ? r.districts : []).map((d) => h('option', { value: d, selected: r.province === cp && d === cd }, d)));
    dist.input.disabled = !r;
  }
  prov.input.addEventListener('change', () => { fill(); dist.input.focus(); });
  fill();
  const err = formErrLine();
  set(main, h('div.form-card', h('h1', '내 동네 설정'),
    h('p.lead', u ? '내 동네의 물건을 보고, 내 물건도 이 동네에 올라가요.' : '어느 동네의 물건을 볼까요?'),
    h('form', { on: { submit: async (e) => {
      e.preventDefault();
      clearErrors({ P: prov, D: dist }, err);
      if (!prov.input.value) { prov.error('시/도를 골라 주세요.'); prov.input.focus(); return; }
      if (!dist.input.value) { dist.error('시/군/구를 골라 주세요.'); dist.input.focus(); return; }
      const addr = `${prov.input.value} ${dist.input.value}`;
      try {
        if (u) {
          const r = await api('POST', '/myPage/address', { new_address: addr });
          setAddress(r.address);
        } else pickRegion(addr);
        toast(`${addr}(으)로 설정했어요.`);
        go('/', { replace: true });
      } catch (ex) { showError(ex, { ADDRESS: dist }, err); }
    } } }, prov.wrap, dist.wrap, err, h('button.btn.primary.block', { type: 'submit' }, '이 동네로 설정'))));
}
