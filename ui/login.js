// The sign-in page needs no script to work; this only clears a stale error
// once the user starts typing again.
const token = document.getElementById("token");
const error = document.getElementById("login-error");
if (token && error) token.addEventListener("input", () => error.remove(), { once: true });
