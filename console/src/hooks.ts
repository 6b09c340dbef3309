// Data on a page: a GET that loads when the page opens (and every `everyMs` when asked), with
// its error, and reload() for after a change.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, get } from "./api";

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

export function useApi<T>(path: string | null, everyMs = 0): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const current = useRef(path);
  current.current = path;

  useEffect(() => {
    if (!path) return;
    let live = true;
    setLoading(true);
    get<T>(path)
      .then((d) => {
        if (live && current.current === path) {
          setData(d);
          setError(null);
        }
      })
      .catch((e) => live && setError(e instanceof ApiError ? e : new ApiError(0, "network", String(e))))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [path, tick]);

  useEffect(() => {
    if (!everyMs) return;
    const t = setInterval(reload, everyMs);
    return () => clearInterval(t);
  }, [everyMs, reload]);

  return { data, error, loading, reload };
}

// Runs an action (a POST, a DELETE), keeping its error and whether it is running.
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>("");
  const run = useCallback(async (f: () => Promise<unknown>, after?: () => void) => {
    setBusy(true);
    setError("");
    try {
      await f();
      after?.();
      return true;
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, setError };
}
