"use strict";
(() => {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("input");
  const status = document.getElementById("status");
  const sendButton = document.getElementById("send");
  const menuButton = document.getElementById("menu");
  const commands = document.getElementById("commands");
  const viewer = document.getElementById("viewer");
  const viewerImage = document.getElementById("viewer-image");
  const viewerClose = document.getElementById("viewer-close");
  const params = new URLSearchParams(location.search);
  const RETRY_MIN_MS = 1500;
  const RETRY_MAX_MS = 15000;
  let startPayload = params.get("start");
  let socket = null;
  let retryMs = RETRY_MIN_MS;
  const shown = new Set();  // ids of the messages shown: one that comes again (history, live) is skipped

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
    showPlaceholder();
    input.focus();
  }

  function askForText() {
    input.type = "text";
    input.autocomplete = "off";
    showPlaceholder();
  }

  function showPlaceholder() {
    input.placeholder = input.type === "tel" ? input.dataset.phonePlaceholder : input.dataset.placeholder;
  }

  // The page's own words and the person's command menu, as the server last worked them out
  // (the language or the role may change with any reply).
  function applyControls(ui) {
    if (!ui || typeof ui !== "object" || !ui.texts || typeof ui.texts !== "object") return;
    const text = (key) => (typeof ui.texts[key] === "string" ? ui.texts[key] : null);
    if (typeof ui.lang === "string") document.documentElement.lang = ui.lang;
    if (text("placeholder") !== null) {
      input.dataset.placeholder = text("placeholder");
      input.setAttribute("aria-label", text("placeholder"));
    }
    if (text("phone_placeholder") !== null) input.dataset.phonePlaceholder = text("phone_placeholder");
    showPlaceholder();
    if (text("send") !== null) sendButton.textContent = text("send");
    if (text("offline") !== null) status.textContent = text("offline");
    if (text("menu") !== null) { menuButton.setAttribute("aria-label", text("menu")); menuButton.title = text("menu"); }
    if (text("close") !== null) { viewerClose.setAttribute("aria-label", text("close")); viewerClose.title = text("close"); }
    if (text("picture") !== null) log.dataset.picture = text("picture");
    if (text("open_picture") !== null) log.dataset.openPicture = text("open_picture");
    if (Array.isArray(ui.commands)) showCommands(ui.commands);
  }

  // Like Telegram's «Menu»: the commands of the person's role; a tap sends one.
  function showCommands(list) {
    commands.replaceChildren();
    for (const c of list) {
      if (!c || typeof c.command !== "string" || typeof c.description !== "string") continue;
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.testid = "menu-command";
      button.dataset.command = c.command;
      const name = document.createElement("span");
      name.className = "chat__command";
      name.textContent = "/" + c.command;
      const description = document.createElement("span");
      description.className = "chat__command-text";
      description.textContent = c.description;
      button.append(name, description);
      button.addEventListener("click", () => {
        closeMenu();
        const typed = "/" + c.command;
        if (send({ type: "text", text: typed })) addMine(typed);
      });
      item.appendChild(button);
      commands.appendChild(item);
    }
    menuButton.hidden = !commands.children.length;
    if (menuButton.hidden) closeMenu();
  }

  function openMenu() {
    commands.hidden = false;
    menuButton.setAttribute("aria-expanded", "true");
  }

  function closeMenu() {
    commands.hidden = true;
    menuButton.setAttribute("aria-expanded", "false");
  }

  menuButton.addEventListener("click", () => (commands.hidden ? openMenu() : closeMenu()));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeMenu(); });
  document.addEventListener("click", (e) => {
    if (!commands.hidden && !commands.contains(e.target) && !menuButton.contains(e.target)) closeMenu();
  });

  // A picture in the chat is a thumbnail; a tap shows it full size, over the chat. A tap,
  // Escape or the browser's Back closes it again (Back: the viewer is a step in the history).
  function openPicture(img) {
    viewerImage.src = img.src;
    viewerImage.alt = img.alt;
    viewer.showModal();
    viewer.scrollTo(0, 0);
    history.pushState({ viewer: true }, "");
  }

  viewer.addEventListener("click", () => viewer.close());
  viewer.addEventListener("close", () => {
    viewerImage.removeAttribute("src");
    if (history.state && history.state.viewer) history.back();
  });
  window.addEventListener("popstate", () => { if (viewer.open) viewer.close(); });

  function addPicture(item, image, caption) {
    const img = document.createElement("img");
    img.className = "msg__picture";
    img.alt = typeof caption === "string" && caption ? caption : log.dataset.picture;
    img.title = log.dataset.openPicture;
    img.tabIndex = 0;
    img.setAttribute("role", "button");
    img.dataset.testid = "picture";
    img.addEventListener("load", scrollDown);  // it gets its height only once decoded
    img.addEventListener("click", () => openPicture(img));
    img.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openPicture(img); }
    });
    img.src = image;
    item.appendChild(img);
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
      // by id, not "newer than the last": another process's message may come a little late
      if (shown.has(reply.id)) return;
      shown.add(reply.id);
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
      // The server sends pictures inline; nothing else may be loaded from here.
      if (typeof reply.image === "string" && /^data:image\/(png|jpeg);base64,/.test(reply.image)) {
        item.classList.add("msg--picture");
        addPicture(item, reply.image, reply.caption);
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
      if (reply && reply.type === "history") { applyControls(reply.ui); resume(reply.messages); return; }
      if (reply && reply.type === "ui") { applyControls(reply); return; }
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
