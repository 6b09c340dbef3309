// Light and dark themes: the system's choice until the user picks one (kept in localStorage).
export type Theme = "light" | "dark";

export function initialTheme(): Theme {
  const saved = localStorage.getItem("aimass.theme");
  if (saved === "light" || saved === "dark") return saved;
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function applyTheme(t: Theme): void {
  document.documentElement.dataset.theme = t;
  localStorage.setItem("aimass.theme", t);
}
