const en = {
  title: 'Sign in to mamori',
  intro: 'Use the account an administrator created for you.',
  username: 'Username',
  password: 'Password',
  submit: 'Sign in',
  submitting: 'Signing in…',
  wrong: 'The username or password is wrong. Check both and try again.',
  throttled: (seconds: number) => `Too many failed sign-ins. Try again in ${seconds} s.`,
  throttledNoTime: 'Too many failed sign-ins. Wait a moment and try again.',
  missing: 'Enter both your username and your password.',
  sessionEnded: 'Your session ended. Sign in again to continue.',
  firstAdmin: 'No account yet? The first administrator is created on the collector host: mamori-server user add NAME --role admin',
};

type Messages = typeof en;

const ja: Messages = {
  title: 'mamori にサインイン',
  intro: '管理者が作成したアカウントでサインインしてください。',
  username: 'ユーザー名',
  password: 'パスワード',
  submit: 'サインイン',
  submitting: 'サインイン中…',
  wrong: 'ユーザー名またはパスワードが違います。両方を確認してもう一度お試しください。',
  throttled: (seconds: number) => `サインインの失敗が続いたため、一時的に制限されています。${seconds} 秒後にもう一度お試しください。`,
  throttledNoTime: 'サインインの失敗が続いたため、一時的に制限されています。しばらく待ってからお試しください。',
  missing: 'ユーザー名とパスワードの両方を入力してください。',
  sessionEnded: 'セッションが終了しました。続けるにはもう一度サインインしてください。',
  firstAdmin: 'アカウントがない場合: 最初の管理者はコレクターのホストで作成します（mamori-server user add 名前 --role admin）',
};

export const messages = { en, ja };
