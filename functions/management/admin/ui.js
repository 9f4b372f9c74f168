// State shared by the views: who is signed in, the status area, the confirmation dialog, navigation.

export const ui = {
  me: null, // GET /me: {username, groups, role}
  kinds: null, // GET /kinds, cached for the session
  generation: 0, // bumped on every navigation: late answers of a left view are dropped
  onSignedOut: null, // set by app.js: show the sign-in form

  isAdmin() {
    return Boolean(this.me && this.me.role === "admin");
  },

  /** A message in the aria-live status area: kind is info, success or error. */
  status(message, kind = "info") {
    const el = document.getElementById("status");
    el.textContent = "";
    el.dataset.kind = message ? kind : "none";
    // a new text node after clearing: screen readers announce a repeated message again
    const token = (this.statusToken = (this.statusToken || 0) + 1);
    if (message) window.setTimeout(() => { if (token === this.statusToken) el.textContent = message; }, 30);
  },

  /** The <dialog> confirmation: resolves true when the user confirms. */
  confirm(message, yesLabel = "Delete") {
    const dialog = document.getElementById("confirm-dialog");
    document.getElementById("confirm-message").textContent = message;
    document.getElementById("confirm-yes").textContent = yesLabel;
    const opener = document.activeElement;
    return new Promise((resolve) => {
      dialog.returnValue = "";
      dialog.addEventListener("close", () => {
        resolve(dialog.returnValue === "yes");
        if (opener && opener.isConnected) opener.focus();
      }, { once: true });
      dialog.showModal();
      document.getElementById("confirm-no").focus();
    });
  },

  go(hash) {
    if (window.location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
    else window.location.hash = hash;
  },
};

export const sleep = (ms) => new Promise((resolve) => { window.setTimeout(resolve, ms); });
