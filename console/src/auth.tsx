// Who is signed in: the token, the user's roles and permissions (from /api/v1/auth/whoami),
// and can(), the same rule the server applies (auth/rbac.hpp), so that pages hide what the
// user may not do. The server still decides: a hidden button is a courtesy, not a guard.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, currentToken, get, setToken, whenSignedOut } from "./api";

export interface Me {
  username: string;
  roles: string[];
  permissions: string[];
}

interface Auth {
  me: Me | null;
  ready: boolean;
  notice: string;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
  can(permission: string): boolean;
}

const AuthContext = createContext<Auth | null>(null);

// "models:write" is covered by models:write, models:*, *:write and *:*.
export function allows(granted: string[], required: string): boolean {
  const [res, act] = required.split(":");
  return granted.some((g) => {
    const [gr, ga] = g.split(":");
    return (gr === "*" || gr === res) && (ga === "*" || ga === act);
  });
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [ready, setReady] = useState(false);
  const [notice, setNotice] = useState("");

  const signedOut = useCallback((why: string) => {
    setToken(null);
    setMe(null);
    setNotice(why);
  }, []);

  useEffect(() => {
    whenSignedOut(signedOut);
    if (!currentToken()) {
      setReady(true);
      return;
    }
    get<Me>("/api/v1/auth/whoami")
      .then(setMe)
      .catch(() => signedOut(""))
      .finally(() => setReady(true));
  }, [signedOut]);

  // The token's own expiry also leads back to the login page, without waiting for a 401.
  const [expiresAt, setExpiresAt] = useState<number>(() => Number(sessionStorage.getItem("aimass.expires") ?? 0));
  useEffect(() => {
    if (!me || !expiresAt) return;
    // setTimeout takes at most 2^31-1 ms (24.8 days); a longer token is checked again then.
    const wait = Math.max(0, expiresAt - Date.now());
    const t = setTimeout(
      () => (Date.now() >= expiresAt ? signedOut("Your session has expired; please sign in again.") : setExpiresAt((e) => e)),
      Math.min(wait, 2 ** 31 - 1),
    );
    return () => clearTimeout(t);
  }, [me, expiresAt, signedOut]);

  const login = useCallback(async (username: string, password: string) => {
    const r = await api<{ access_token: string; expires_in: number }>("POST", "/api/v1/auth/login", { username, password });
    setToken(r.access_token);
    const at = Date.now() + r.expires_in * 1000;
    sessionStorage.setItem("aimass.expires", String(at));
    setExpiresAt(at);
    setNotice("");
    setMe(await get<Me>("/api/v1/auth/whoami"));
  }, []);

  const logout = useCallback(async () => {
    try {
      await api("POST", "/api/v1/auth/logout");
    } catch {
      // gone already: signed out either way
    }
    sessionStorage.removeItem("aimass.expires");
    signedOut("");
  }, [signedOut]);

  const can = useCallback((p: string) => !!me && allows(me.permissions, p), [me]);

  return <AuthContext.Provider value={{ me, ready, notice, login, logout, can }}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error("useAuth outside AuthProvider");
  return a;
}
