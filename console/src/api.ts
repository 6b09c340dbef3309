// The platform's HTTP API as the console calls it: the signed-in user's bearer token, JSON in
// and out, and failures as ApiError with the platform's code and message (docs/errors.md). A
// 401 on any call signs the user out (an expired or revoked token leads back to the login).

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = "aimass.token";
// Kept in memory and in this tab's sessionStorage, so that a reload keeps the session and
// closing the tab ends it (docs/guide/console.md).
let token: string | null = sessionStorage.getItem(TOKEN_KEY);
let onSignedOut: (why: string) => void = () => {};

export function currentToken(): string | null {
  return token;
}

export function setToken(t: string | null): void {
  token = t;
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function whenSignedOut(f: (why: string) => void): void {
  onSignedOut = f;
}

function authHeaders(extra?: HeadersInit): Headers {
  const h = new Headers(extra);
  if (token) h.set("Authorization", `Bearer ${token}`);
  return h;
}

async function failure(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = await res.json();
    // /api answers {"error":{"code","message"}}; /v2 answers {"error":"…","code"}.
    if (body && typeof body.error === "object") {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
    } else if (body && typeof body.error === "string") {
      message = body.error;
      code = body.code ?? code;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, message);
}

// Every answer the console gets passes here: a 401 to a signed-in user ends the session.
export function checkSignedIn(status: number): void {
  if (status === 401 && token) {
    setToken(null);
    onSignedOut("Your session has ended; please sign in again.");
  }
}

// Sends a request; resolves to the raw response when it is 2xx.
export async function send(method: string, path: string, body?: BodyInit | null, headers?: HeadersInit): Promise<Response> {
  const res = await fetch(path, { method, headers: authHeaders(headers), body: body ?? undefined });
  checkSignedIn(res.status);
  if (!res.ok) throw await failure(res);
  return res;
}

export async function api<T = unknown>(method: string, path: string, json?: unknown): Promise<T> {
  const res = await send(
    method,
    path,
    json === undefined ? undefined : JSON.stringify(json),
    json === undefined ? undefined : { "Content-Type": "application/json" },
  );
  if (res.status === 204) return undefined as T;
  const type = res.headers.get("Content-Type") ?? "";
  return (type.includes("json") ? await res.json() : await res.text()) as T;
}

export const get = <T = unknown>(path: string) => api<T>("GET", path);

// Uploads a body with progress (fetch cannot report an upload's progress; XHR can).
export function upload<T = unknown>(
  path: string,
  body: Blob,
  headers: Record<string, string>,
  progress: (fraction: number) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && progress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, "network", "the upload could not be sent"));
    xhr.onload = async () => {
      checkSignedIn(xhr.status);
      const res = new Response(xhr.responseText, {
        status: xhr.status,
        headers: { "Content-Type": xhr.getResponseHeader("Content-Type") ?? "" },
      });
      if (xhr.status >= 200 && xhr.status < 300) resolve(JSON.parse(xhr.responseText || "null"));
      else reject(await failure(res));
    };
    xhr.send(body);
  });
}

// Fetches a file with the token and hands it to the browser as a download.
export async function download(path: string, filename: string): Promise<void> {
  const res = await send("GET", path);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function enc(s: string | number): string {
  return encodeURIComponent(String(s));
}
