// The sandbox page: channels, threads and DMs on the left, the messages in the middle, the
// rule violations the sim saw on the right. Live through server-sent events.

import { Composer } from "./composer.js";
import { el, keepMedia, listItem, markdown, message } from "./render.js";

const app = {
  state: null,
  me: null,
  guild: null, // the server shown (several: the switcher at the top left)
  current: null,
  messages: [],
  unread: new Set(),
  source: null,
  post,
  openModal,
  currentChannel,
  channelsOf,
};

const $ = (id) => document.getElementById(id);

// ---- talking to the sandbox -----------------------------------------------------------

async function request(path, options = {}) {
  try {
    const response = await fetch(path, { ...options, headers: { "X-Sandbox": "1", ...(options.headers || {}) } });
    const data = await response.json();
    if (!response.ok && !data.error) data.error = `HTTP ${response.status}`;
    return data;
  } catch (error) {
    return { error: `The sandbox did not answer (${error.message}): is reelbot still running?` };
  }
}

function post(path, body) {
  if (body instanceof FormData) return request(path, { method: "POST", body });
  return request(path, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
}

function get(path) {
  return request(path);
}

function q(params) {
  return new URLSearchParams(params).toString();
}

// ---- state ----------------------------------------------------------------------------

function currentChannel() {
  if (!app.state) return null;
  if (app.state.dm && app.state.dm.id === app.current) return app.state.dm;
  return app.state.channels.find((c) => c.id === app.current) || null;
}

function channelsOf(types) {
  const all = app.state ? app.state.channels : [];
  return types && types.length ? all.filter((c) => types.includes(c.type)) : all;
}

function memberName(id) {
  const state = app.state;
  if (!state) return id;
  if (state.bot.id === id) return state.bot.name;
  return state.members.find((m) => m.id === id)?.name || "unknown-user";
}

async function loadState() {
  const state = await get("/sandbox/state?" + q({ member: app.me || hashParam("member") || "",
                                                   guild: app.guild || hashParam("server") || "" }));
  if (state.error) {
    toast(state.error, true);
    if (!app.me && hashParam("member")) {
      history.replaceState(null, "", "#");
      return loadState();
    }
    return;
  }
  app.me = state.me;
  app.state = state;
  app.guild = state.guild.id;
  document.title = `${state.title} · ${state.guild.name}`;
  $("guild-name").textContent = state.guild.name;
  drawServers();
  drawMembers();
  drawChannels();
  drawViolations();
  drawLinks();
  setOnline(state.bot.online);
  if (!currentChannel()) {
    const wanted = hashParam("channel");
    const known = state.channels.find((c) => c.id === wanted) || (state.dm && state.dm.id === wanted ? state.dm : null);
    await openChannel((known || state.channels.find((c) => c.type === 0)).id);
  } else {
    drawHeader();
  }
  composer.update();
}

function hashParam(name) {
  return new URLSearchParams(location.hash.slice(1)).get(name);
}

function saveHash() {
  const me = app.state?.members.find((m) => m.id === app.me);
  history.replaceState(null, "", "#" + q({ member: me ? me.name : app.me, channel: app.current, server: app.guild }));
}

function drawServers() {
  const select = $("server");
  select.replaceChildren();
  for (const server of app.state.servers || []) {
    const option = el("option", null, server.name);
    option.value = server.id;
    option.selected = server.id === app.guild;
    select.append(option);
  }
}

async function switchServer(id) {
  if (id === app.guild) return;
  app.guild = id;
  const channel = currentChannel();
  app.current = channel && channel.type === 1 ? channel.id : null; // DMs follow the member across servers
  app.messages = [];
  connect();
  await loadState();
  if (app.current) await openChannel(app.current);
}

// ---- the sidebar ----------------------------------------------------------------------

function channelButton(channel, glyph, label, cls) {
  const button = el("button", "chan " + (cls || ""));
  button.type = "button";
  button.dataset.channel = channel.id;
  button.append(el("span", "glyph", glyph), el("span", "label", label));
  if (channel.id === app.current) button.classList.add("current");
  if (app.unread.has(channel.id)) button.classList.add("unread");
  button.addEventListener("click", () => openChannel(channel.id));
  return button;
}

function drawChannels() {
  const list = $("channels");
  list.replaceChildren();
  const texts = app.state.channels.filter((c) => !c.parent_id);
  for (const channel of texts) {
    list.append(listItem(channelButton(channel, "#", channel.name)));
    for (const thread of app.state.channels.filter((c) => c.parent_id === channel.id)) {
      list.append(listItem(channelButton(thread, "🧵", thread.name, "thread")));
    }
  }
  const dms = $("dms");
  dms.replaceChildren();
  const dm = app.state.dm || { id: "new-dm" };
  const button = channelButton(dm, "@", app.state.bot.name, "dm");
  dms.append(listItem(button));
}

function drawMembers() {
  const select = $("member");
  select.replaceChildren();
  for (const member of app.state.members) {
    const option = el("option", null, member.roles.length ? `${member.name} (${member.roles.join(", ")})` : member.name);
    option.value = member.id;
    option.selected = member.id === app.me;
    select.append(option);
  }
  const me = app.state.members.find((m) => m.id === app.me);
  const can = [];
  if (me?.manage_messages) can.push("can delete anyone's messages");
  if (me?.manage_guild) can.push("can manage the server");
  $("member-roles").textContent = can.length ? `Moderator powers: ${can.join(", ")}` : "An ordinary member";
}

function drawLinks() {
  const links = $("links");
  links.replaceChildren();
  for (const link of app.state.links || []) {
    const a = el("a", null, link.label);
    a.href = link.url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    links.append(a);
  }
}

function drawViolations() {
  const list = $("violation-list");
  list.replaceChildren();
  for (const v of app.state.violations) list.append(violationItem(v));
  countViolations();
}

function violationItem(v) {
  const li = el("li");
  li.append(el("span", "rule", v.rule), " ", document.createTextNode(v.detail));
  if (v.method) li.append(el("span", "where", `${v.method} ${v.path}`));
  return li;
}

function countViolations() {
  const n = $("violation-list").children.length;
  $("violation-count").textContent = String(n);
  $("violation-count").classList.toggle("some", n > 0);
  $("no-violations").hidden = n > 0;
}

function setOnline(online) {
  const status = $("bot-status");
  const name = app.state ? app.state.bot.name : "The bot";
  status.textContent = online ? `● ${name} is online` : `◌ ${name} is offline (starting or restarting)`;
  status.className = online ? "online" : "offline";
}

// ---- the message list -----------------------------------------------------------------

function drawHeader() {
  const channel = currentChannel();
  if (!channel) return;
  const isDm = channel.type === 1;
  const isThread = Boolean(channel.parent_id);
  const name = isDm ? `@${app.state.bot.name}` : isThread ? `🧵 ${channel.name}` : `# ${channel.name}`;
  $("channel-title").textContent = name;
  const short = channel.name.length > 40 ? channel.name.slice(0, 39) + "…" : channel.name;
  composer.setPlaceholder(`Message ${isDm ? "@" + app.state.bot.name : (isThread ? "" : "#") + short} — type / for ${app.state.bot.name}'s commands`);
  for (const button of document.querySelectorAll(".chan")) {
    button.classList.toggle("current", button.dataset.channel === app.current);
  }
}

async function openChannel(id) {
  if (id === "new-dm") {
    const dm = await post("/sandbox/dm", { member: app.me });
    if (dm.error) return toast(dm.error, true);
    app.state.dm = dm;
    drawChannels();
    id = dm.id;
  }
  app.current = id;
  app.unread.delete(id);
  saveHash();
  drawChannels();
  drawHeader();
  const messages = await get(`/sandbox/channels/${id}/messages?` + q({ member: app.me }));
  if (messages.error) return toast(messages.error, true);
  if (app.current !== id) return;
  app.messages = messages;
  drawMessages();
}

function drawMessages() {
  const list = $("messages");
  list.replaceChildren();
  const channel = currentChannel();
  if (channel && !channel.parent_id) list.append(welcome(channel));
  for (const msg of app.messages) list.append(message(msg, ctx));
  list.scrollTop = list.scrollHeight;
}

function welcome(channel) {
  const box = el("li", "welcome");
  const isDm = channel.type === 1;
  box.append(el("h2", null, isDm ? `Your DMs with ${app.state.bot.name}` : `Welcome to #${channel.name}!`));
  const first = app.state.channels.find((c) => c.type === 0);
  if (!isDm && first && first.id === channel.id) {
    for (const line of app.state.welcome || []) box.append(wrapP(markdown(line, ctx)));
  } else {
    box.append(el("p", null, isDm ? "Private clips and some answers come here." : "This is the start of the channel."));
  }
  return box;
}

function wrapP(fragment) {
  const p = el("p");
  p.append(fragment);
  return p;
}

function nearBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 120;
}

function upsert(msg) {
  if (msg.channel_id !== app.current) {
    app.unread.add(msg.channel_id);
    const button = document.querySelector(`.chan[data-channel="${CSS.escape(msg.channel_id)}"]`);
    if (button) button.classList.add("unread");
    return;
  }
  const list = $("messages");
  const stick = nearBottom(list);
  const index = app.messages.findIndex((m) => m.id === msg.id);
  const node = message(msg, ctx);
  const old = list.querySelector(`li.msg[data-id="${CSS.escape(msg.id)}"]`);
  if (index >= 0) app.messages[index] = msg;
  else app.messages.push(msg);
  if (old) {
    keepMedia(old, node);
    old.replaceWith(node);
  } else {
    list.append(node);
  }
  if (stick) list.scrollTop = list.scrollHeight;
}

function remove(data) {
  app.messages = app.messages.filter((m) => m.id !== data.id);
  document.querySelector(`li.msg[data-id="${CSS.escape(data.id)}"]`)?.remove();
}

async function jump(channelId, messageId) {
  const known = app.state.channels.some((c) => c.id === channelId) || app.state.dm?.id === channelId;
  if (!known) return toast("That message is not in this sandbox.", true);
  if (app.current !== channelId) await openChannel(channelId);
  if (!messageId) return;
  const node = document.querySelector(`li.msg[data-id="${CSS.escape(messageId)}"]`);
  if (!node) return toast("That message was deleted.", true);
  node.scrollIntoView({ block: "center" });
  node.classList.add("highlight");
  setTimeout(() => node.classList.remove("highlight"), 2000);
}

// ---- what the renderer needs ----------------------------------------------------------

const ctx = {
  get videoNotice() { return app.state?.video_notice; },
  userName: memberName,
  roleName: (id) => app.state?.roles.find((r) => r.id === id)?.name || "role",
  channelName: (id) => app.state?.channels.find((c) => c.id === id)?.name || "channel",
  members: () => app.state?.members || [],
  roles: () => app.state?.roles || [],
  channels: channelsOf,
  jump,
  openChannel,
  click: pressButton,
  select: pickValues,
  messageMenu,
};

async function pressButton(msg, data, node) {
  node.classList.add("busy");
  node.disabled = true;
  const result = await post("/sandbox/click", { member: app.me, message: msg.id, custom_id: data.custom_id });
  node.classList.remove("busy");
  node.disabled = Boolean(data.disabled);
  answered(result);
}

async function pickValues(msg, data, values, node) {
  node.disabled = true;
  const result = await post("/sandbox/click", { member: app.me, message: msg.id, custom_id: data.custom_id, values });
  node.disabled = Boolean(data.disabled);
  answered(result);
}

function answered(result) {
  if (result.error) toast(result.error, true);
  if (result.modal) openModal(result.interaction, result.modal);
}

function messageLink(msg) {
  const channel = currentChannel();
  const guild = channel && channel.type === 1 ? "@me" : app.state.guild.id;
  return `https://discord.com/channels/${guild}/${msg.channel_id}/${msg.id}`;
}

function messageMenu(msg) {
  const menu = el("div", "msg-menu");
  const apps = (app.state?.commands || []).filter((c) => c.type === 3);
  if (apps.length) {
    const button = el("button", null, "Apps");
    button.type = "button";
    button.title = "Apps: the bot's message commands";
    button.addEventListener("click", () => showApps(msg, apps, menu));
    menu.append(button);
  }
  for (const [label, text] of [["Copy link", () => messageLink(msg)], ["Copy ID", () => msg.id]]) {
    const button = el("button", null, label);
    button.type = "button";
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(text());
        toast(`${label === "Copy ID" ? "Message ID" : "Message link"} copied`);
      } catch {
        toast(text());
      }
    });
    menu.append(button);
  }
  return menu;
}

function showApps(msg, apps, menu) {
  document.querySelectorAll(".apps").forEach((node) => node.remove());
  const list = el("div", "apps");
  list.append(el("div", "apps-title", "Apps"));
  for (const command of apps) {
    const button = el("button", null, command.name);
    button.type = "button";
    button.addEventListener("click", async () => {
      list.remove();
      answered(await post("/sandbox/app", { member: app.me, message: msg.id, command: command.name }));
    });
    list.append(button);
  }
  menu.parentElement.append(list);
  setTimeout(() => document.addEventListener("click", () => list.remove(), { once: true }), 0);
}

// ---- modal dialogs --------------------------------------------------------------------

function modalInputs(component) {
  if (component.type === 1) return (component.components || []).map((c) => ({ label: c.label, description: null, input: c }));
  if (component.type === 18 && component.component) return [{ label: component.label, description: component.description, input: component.component }];
  return [];
}

function openModal(interaction, modal) {
  const dialog = $("modal");
  $("modal-title").textContent = modal.title || "";
  $("modal-error").hidden = true;
  const body = $("modal-body");
  body.replaceChildren();
  const fields = [];
  for (const component of modal.components || []) {
    if (component.type === 10) {
      const text = el("div", "content");
      text.append(markdown(component.content || "", ctx));
      body.append(text);
      continue;
    }
    for (const { label, description, input } of modalInputs(component)) {
      const field = el("label", "field");
      const name = el("span", "field-label", label || input.custom_id);
      if (input.required !== false && input.type === 4) name.append(el("span", "req", " *"));
      field.append(name);
      if (description) field.append(el("span", "field-desc", description));
      let control;
      if (input.type === 4) {
        control = el(input.style === 2 ? "textarea" : "input");
        if (input.style !== 2) control.type = "text";
        control.value = input.value || "";
        if (input.placeholder) control.placeholder = input.placeholder;
        if (input.max_length != null) control.maxLength = input.max_length;
        if (input.min_length != null) control.minLength = input.min_length;
        control.required = input.required !== false;
      } else if (input.type === 3) {
        control = el("select");
        control.multiple = (input.max_values ?? 1) > 1;
        for (const option of input.options || []) {
          const item = el("option", null, option.label);
          item.value = option.value;
          item.selected = Boolean(option.default);
          control.append(item);
        }
      } else {
        control = el("span", "offsite", `(an input of type ${input.type} the sandbox does not draw)`);
      }
      control.name = input.custom_id;
      field.append(control);
      body.append(field);
      fields.push({ input, control });
    }
  }
  const submit = async () => {
    const values = {};
    for (const { input, control } of fields) {
      if (input.type === 4) {
        if (control.required && !control.value) return modalError(`${input.label || input.custom_id} is required`);
        if (input.min_length && control.value && control.value.length < input.min_length) return modalError(`${input.label || input.custom_id} needs at least ${input.min_length} characters`);
        values[input.custom_id] = control.value;
      } else if (input.type === 3) {
        values[input.custom_id] = [...control.selectedOptions].map((o) => o.value);
      }
    }
    $("modal-submit").disabled = true;
    const result = await post("/sandbox/modal", { member: app.me, interaction, values });
    $("modal-submit").disabled = false;
    if (result.error && !result.interaction) return modalError(result.error);
    dialog.close();
    answered(result);
  };
  $("modal-submit").onclick = submit;
  $("modal-cancel").onclick = () => dialog.close();
  dialog.onkeydown = (event) => {
    if (event.key === "Enter" && event.target.tagName === "INPUT") { event.preventDefault(); submit(); }
  };
  dialog.showModal();
  fields[0]?.control.focus?.();
}

function modalError(text) {
  $("modal-error").textContent = text;
  $("modal-error").hidden = false;
}

// ---- notes ----------------------------------------------------------------------------

let toastTimer = null;
function toast(text, error = false) {
  const node = $("toast");
  node.textContent = text;
  node.className = error ? "error" : "";
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, error ? 8000 : 2500);
}

// ---- live updates ---------------------------------------------------------------------

function connect() {
  if (app.source) app.source.close();
  const source = new EventSource("/sandbox/events?" + q({ member: app.me, guild: app.guild || "" }));
  app.source = source;
  let opened = false;
  source.addEventListener("open", () => {
    if (opened) resync();  // a reconnect: catch up on what we missed
    opened = true;
  });
  source.addEventListener("message", (event) => upsert(JSON.parse(event.data)));
  source.addEventListener("delete", (event) => remove(JSON.parse(event.data)));
  source.addEventListener("channels", () => loadState());
  source.addEventListener("commands", () => loadState());
  source.addEventListener("resync", () => resync());
  source.addEventListener("violation", (event) => {
    const v = JSON.parse(event.data);
    app.state?.violations.push(v);
    $("violation-list").append(violationItem(v));
    countViolations();
  });
  source.addEventListener("status", (event) => {
    const { online } = JSON.parse(event.data);
    if (app.state) app.state.bot.online = online;
    setOnline(online);
  });
}

async function resync() {
  await loadState();
  if (app.current) await openChannel(app.current);
}

// ---- start ----------------------------------------------------------------------------

const composer = new Composer(app);

$("member").addEventListener("change", async (event) => {
  app.me = event.target.value;
  const channel = currentChannel();
  if (channel && channel.type === 1) app.current = null;
  connect();
  await loadState();
  if (app.current) await openChannel(app.current);
});

$("server").addEventListener("change", (event) => switchServer(event.target.value));

$("add-server").addEventListener("click", async () => {
  const added = await post("/sandbox/servers", {});
  if (added.error) return toast(added.error, true);
  toast(`${added.name} added: same channels and members, the bot joined it`);
  await switchServer(added.id);
});

$("violations-toggle").addEventListener("click", () => $("app").classList.toggle("no-violations-panel"));

await loadState();
connect();
$("input").focus();
