import { useEffect, useRef, useState } from 'preact/hooks';
import { authenticationRequired, currentToken, onTokenChange, setToken, setTokenPrompt } from './api';
import { TokenDialog } from './components';
import { linkTo, usePath } from './router';
import { OverviewPage } from './pages/overview';
import { SubscriptionsPage } from './pages/subscriptions';
import { SubscriptionPage } from './pages/subscription';
import { DeadLettersPage } from './pages/dead-letters';
import { TailPage } from './pages/tail';
import { PublishPage } from './pages/publish';

const NAV = [
  { path: '', label: 'Overview' },
  { path: 'subscriptions', label: 'Subscriptions' },
  { path: 'tail', label: 'Live tail' },
  { path: 'publish', label: 'Publish' },
] as const;

function page(path: string) {
  const parts = path.split('/').map(decodeURIComponent);
  if (path === '') return <OverviewPage />;
  if (parts[0] === 'subscriptions' && parts.length === 1) return <SubscriptionsPage />;
  if (parts[0] === 'subscriptions' && parts.length === 2) return <SubscriptionPage id={parts[1] ?? ''} />;
  if (parts[0] === 'subscriptions' && parts.length === 3 && parts[2] === 'deadletters') {
    return <DeadLettersPage id={parts[1] ?? ''} />;
  }
  if (path === 'tail') return <TailPage />;
  if (path === 'publish') return <PublishPage />;
  return (
    <>
      <h1 tabIndex={-1}>Not found</h1>
      <p>
        There is no page <code>{path}</code>. <a {...linkTo('')}>Go to the overview</a>.
      </p>
    </>
  );
}

export function App() {
  const path = usePath();
  const main = useRef<HTMLElement>(null);
  const [tokenReason, setTokenReason] = useState<string>();
  const [signedIn, setSignedIn] = useState(currentToken() !== null);
  const [authenticating, setAuthenticating] = useState(authenticationRequired());
  const resolveToken = useRef<(token: string | undefined) => void>(undefined);

  useEffect(() => {
    setTokenPrompt(
      (reason) =>
        new Promise((resolve) => {
          resolveToken.current = resolve;
          setTokenReason(reason);
        }),
    );
    const off = onTokenChange(() => {
      setSignedIn(currentToken() !== null);
      setAuthenticating(authenticationRequired());
    });
    return () => {
      setTokenPrompt(undefined);
      off();
    };
  }, []);

  // After navigation, screen readers and keyboard users start at the new page's heading.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [path]);

  const section = path.split('/')[0] ?? '';
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" {...linkTo('')}>
          Herald
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.path}>
                <a {...linkTo(item.path)} aria-current={section === item.path ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="session">
          {signedIn ? (
            <button type="button" onClick={() => setToken(null)}>
              Forget token
            </button>
          ) : (
            authenticating && (
              <button type="button" onClick={() => setTokenReason('Enter a bearer token for this broker.')}>
                Sign in
              </button>
            )
          )}
        </div>
      </header>
      <main id="main" ref={main}>
        {page(path)}
      </main>
      <TokenDialog
        reason={tokenReason}
        onDone={(token) => {
          setTokenReason(undefined);
          const resolve = resolveToken.current;
          resolveToken.current = undefined;
          if (resolve !== undefined) resolve(token);
          else if (token !== undefined && token !== '') setToken(token);
        }}
      />
    </>
  );
}
