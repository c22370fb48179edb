"use strict";
(() => {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("input");
  const status = document.getElementById("status");
  const params = new URLSearchParams(location.search);
  const RETRY_MIN_MS = 1500;
  const RETRY_MAX_MS = 15000;
  let startPayload = params.get("start");
  let socket = null;
  let retryMs = RETRY_MIN_MS;
  let lastId = 0;  // the newest message shown: one that comes again (history, live) is skipped

  // A reload must not repeat the deep link's /start.
  if (startPayload !== null) history.replaceState(null, "", location.pathname);

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  // Only plain web links may become link buttons (no javascript:, data:, ...).
  function safeUrl(url) {
    try {
      const parsed = new URL(url, location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function bubble(who) {
    const item = document.createElement("li");
    item.className = "msg msg--" + who;
    item.dataset.testid = who === "bot" ? "bot-message" : "my-message";
    log.appendChild(item);
    return item;
  }

  function addText(item, text) {
    const span = document.createElement("span");
    span.className = "msg__text";
    span.dataset.testid = "message-text";
    span.textContent = typeof text === "string" ? text : "";
    item.appendChild(span);
  }

  function addButtons(item, rows) {
    if (!Array.isArray(rows) || !rows.length) return;
    const box = document.createElement("div");
    box.className = "buttons";
    for (const row of rows) {
      if (!Array.isArray(row)) continue;
      const line = document.createElement("div");
      line.className = "buttons__row";
      for (const b of row) {
        if (!b || typeof b.label !== "string") continue;
        let el;
        if (b.url) {
          const href = safeUrl(b.url);
          if (href === null) continue;
          el = document.createElement("a");
          el.href = href; el.target = "_blank"; el.rel = "noopener noreferrer";
          el.dataset.testid = "link-button";
        } else if (typeof b.payload === "string") {
          el = document.createElement("button");
          el.type = "button";
          el.dataset.testid = "chat-button";
          el.dataset.payload = b.payload;
          el.addEventListener("click", () => {
            if (send({ type: "button", payload: b.payload, label: b.label })) addMine(b.label);
          });
        } else {
          continue;
        }
        el.textContent = b.label;
        line.appendChild(el);
      }
      if (line.children.length) box.appendChild(line);
    }
    if (box.children.length) item.appendChild(box);
  }

  function addMine(text) { addText(bubble("me"), text); scrollDown(); }

  function askForPhone() {
    input.type = "tel";
    input.autocomplete = "tel";
    input.placeholder = input.dataset.phonePlaceholder;
    input.focus();
  }

  function askForText() {
    input.type = "text";
    input.autocomplete = "off";
    input.placeholder = input.dataset.placeholder;
  }

  // A text with a key replaces the bubble that had the same key (a progress line).
  function bubbleFor(reply) {
    const key = typeof reply.key === "string" ? reply.key : "";
    if (key) {
      for (const old of log.querySelectorAll("li[data-key]")) {
        if (old.dataset.key === key) {
          old.replaceChildren();
          return old;
        }
      }
    }
    const item = bubble("bot");
    if (key) item.dataset.key = key;
    return item;
  }

  function render(reply) {
    if (!reply || typeof reply !== "object") return;
    if (typeof reply.id === "number") {
      if (reply.id <= lastId) return;
      lastId = reply.id;
    }
    if (reply.type === "seen") return;  // the visitor's own message, shown as it was typed
    if (reply.type === "mine") { addMine(reply.text); return; }
    if (!["text", "picture", "ask_contact", "document"].includes(reply.type)) return;
    const item = bubbleFor(reply);
    if (reply.type === "document") {
      // Only a download link of this server: /web/download/<token>.
      if (typeof reply.url === "string" && reply.url.startsWith("/web/download/")) {
        const link = document.createElement("a");
        link.href = reply.url;
        link.download = typeof reply.filename === "string" ? reply.filename : "";
        link.textContent = "⬇ " + link.download;
        link.dataset.testid = "document";
        item.appendChild(link);
      }
      addText(item, reply.caption);
    } else if (reply.type === "picture") {
      // The server sends the card's QR code inline; nothing else may be loaded from here.
      if (typeof reply.image === "string" && /^data:image\/(png|jpeg);base64,/.test(reply.image)) {
        const img = document.createElement("img");
        img.alt = "QR";
        img.dataset.testid = "picture";
        img.addEventListener("load", scrollDown);  // it gets its height only once decoded
        img.src = reply.image;
        item.appendChild(img);
      }
      addText(item, reply.caption);
    } else {
      addText(item, reply.text);
    }
    if (reply.type === "ask_contact") askForPhone();
    else askForText();
    addButtons(item, reply.buttons);
    scrollDown();
  }

  // True if the message went out; false while (re)connecting, so nothing is lost silently.
  function send(message) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      status.hidden = false;
      return false;
    }
    socket.send(JSON.stringify(message));
    return true;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/web/ws");
    socket.addEventListener("open", () => {
      status.hidden = true;
      retryMs = RETRY_MIN_MS;
    });
    socket.addEventListener("message", (e) => {
      let reply;
      try { reply = JSON.parse(e.data); } catch (err) { return; }
      if (reply && reply.type === "history") { resume(reply.messages); return; }
      render(reply);
    });
    socket.addEventListener("close", () => {
      status.hidden = false;
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    });
  }

  // The server sends the conversation so far first: shown as it was (messages written while
  // the page was closed included); a visitor with none starts, as a deep link asks, with /start.
  function resume(messages) {
    if (Array.isArray(messages)) messages.forEach(render);
    if (startPayload !== null || !log.children.length) {
      send({ type: "text", text: startPayload ? "/start " + startPayload : "/start", silent: true });
      startPayload = null;
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (!send({ type: "text", text })) return;  // keep the typed text until we are back
    addMine(text);
    input.value = "";
  });

  connect();
})();
