// Labels: Japanese first, English through the language switch (remembered in sessionStorage).
// Every label goes through t(key). The shell's labels (and each page's name in the navigation) are here; a
// page adds its own labels when its module loads, with addLabels({ja: {...}, en: {...}}).

const STORAGE_KEY = "chiiki.language";
export const LANGUAGES = ["ja", "en"];

const labels = {
  ja: {
    "app.title": "chiiki コンソール",
    "app.skip": "本文へ移動",
    "nav.label": "ページ",
    "nav.town": "わがまちで使える制度",
    "nav.points": "自治体ポイント",
    "nav.deliveries": "Webhook配信",
    "nav.matching": "マッチング",
    "language.label": "表示言語",
    "language.ja": "日本語",
    "language.en": "English",
    "session.key": "APIキー",
    "session.signIn": "サインイン",
    "session.signOut": "サインアウト",
    "session.signedInAs": "{role}としてサインイン中",
    "session.tenant": "{role}（{tenant}）としてサインイン中",
    "session.required": "このページにはAPIキーが必要です。上の欄に入力してサインインしてください。",
    "session.notAllowed": "このAPIキー（{role}）ではこのページを使えません。",
    "role.ops": "運用",
    "role.municipality": "自治体",
    "role.provider": "決済事業者",
    "role.app": "アプリ",
    "error.title": "エラー",
    "error.request": "リクエストID: {id}",
    "error.network": "APIに接続できませんでした",
    "page.notFound": "そのページはありません。",
    "loading": "読み込み中…",
    "yen": "{amount}円",
    "footer.api": "このコンソールは公開REST APIだけを使います。",
  },
  en: {
    "app.title": "chiiki console",
    "app.skip": "Skip to content",
    "nav.label": "Pages",
    "nav.town": "What can my town get",
    "nav.points": "Point programs",
    "nav.deliveries": "Deliveries",
    "nav.matching": "Matching",
    "language.label": "Language",
    "language.ja": "日本語",
    "language.en": "English",
    "session.key": "API key",
    "session.signIn": "Sign in",
    "session.signOut": "Sign out",
    "session.signedInAs": "Signed in as {role}",
    "session.tenant": "Signed in as {role} ({tenant})",
    "session.required": "This page needs an API key. Enter it above and sign in.",
    "session.notAllowed": "This API key ({role}) cannot use this page.",
    "role.ops": "ops",
    "role.municipality": "municipality",
    "role.provider": "payment provider",
    "role.app": "app",
    "error.title": "Error",
    "error.request": "Request id: {id}",
    "error.network": "Could not reach the API",
    "page.notFound": "There is no such page.",
    "loading": "Loading…",
    "yen": "¥{amount}",
    "footer.api": "This console uses the public REST API only.",
  },
};

export function addLabels(more) {
  for (const language of LANGUAGES) Object.assign(labels[language], more[language] || {});
}

export function language() {
  const stored = sessionStorage.getItem(STORAGE_KEY);
  return LANGUAGES.includes(stored) ? stored : "ja";
}

export function setLanguage(chosen) {
  sessionStorage.setItem(STORAGE_KEY, chosen);
  document.documentElement.lang = chosen;
}

// t("session.tenant", {role: "…", tenant: "…"}): the label in the current language with {names} filled in.
// A missing label is a bug: it is logged and shown as its key.
export function t(key, values = {}) {
  const text = labels[language()][key];
  if (text === undefined) {
    console.error(`no ${language()} label for ${key}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}
