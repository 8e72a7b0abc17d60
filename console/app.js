/* escalated — the agent console.
 *
 * Everything the page shows comes from the daemon's API, called with the
 * agent's token (kept in sessionStorage: this browser tab, this session) as
 * a Bearer token, so the API's own role checks apply:
 *   GET  /v1/me                        who the token belongs to (role, tier)
 *   GET  /v1/queues/{tier}             the tier's queue in claim order
 *   POST /v1/queues/{tier}/claim       take the most urgent ticket
 *   GET  /v1/tickets?assignee=me       my tickets
 *   GET  /v1/tickets/{id}[/events|/actions]   a ticket, its history, what I may do
 *   POST /v1/tickets/{id}/{action}     the actions, with If-Match: the version shown
 *   POST /v1/tickets                   the front desk's complaint form
 *   GET  /v1/categories                the taxonomy's categories for that form
 * Lists are refreshed every few seconds while shown; deadlines count down
 * every second against the server's clock (its Date header).  Data is only
 * ever put into the page with textContent, never as HTML. */
(function () {
  'use strict';

  var TOKEN_KEY = 'escalated.console.token';
  var LANG_KEY = 'escalated.console.lang';
  var QUEUE_EVERY_MS = 3000;
  var MINE_EVERY_MS = 5000;
  var TICKET_EVERY_MS = 4000;
  var SOON_MS = 5 * 60 * 1000;
  var CHANNELS = ['phone', 'wechat', 'email', 'web', 'letter', 'walk_in', 'other'];
  var ROOT_CAUSES = ['customer_side', 'operations', 'product_defect', 'other'];
  var ACTION_ORDER = ['acknowledge', 'plan', 'escalate', 'return', 'wait', 'resume', 'resolve',
                      'close', 'reopen'];

  var I18N = {
    en: {
      'title': 'Agent console', 'signout': 'Sign out',
      'nav.queue': 'Queue', 'nav.mine': 'My tickets', 'nav.new': 'New complaint',
      'login.title': 'Sign in with your token',
      'login.help': 'The token is kept in this browser tab only (session storage) and sent with every request. Agents see the queue of their line; the front desk records complaints.',
      'login.label': 'Token', 'login.submit': 'Sign in',
      'login.bad': 'That token was not accepted (401). Check it and enter it again.',
      'login.expired': 'Your token is no longer accepted (401). Sign in again.',
      'login.failed': 'The server could not be asked: {msg}',
      'who': '{name} · {role}', 'who.tier': '{name} · agent of {tier}',
      'role.frontdesk': 'front desk', 'role.agent': 'agent', 'role.manager': 'manager', 'role.admin': 'admin',
      'queue.title': 'Queue of', 'queue.claim': 'Claim next',
      'queue.order': 'Most urgent first: major before normal, then the earliest acknowledgement deadline — the order “Claim next” takes.',
      'queue.empty': 'Nothing is waiting in this queue.', 'queue.count': '{n} waiting',
      'queue.claimed': 'You took ticket #{id}.', 'queue.none': 'The queue is empty: nothing to claim.',
      'queue.ack': 'Acknowledge',
      'mine.title': 'My tickets', 'mine.empty': 'You have no open tickets.',
      'mine.callbacks': 'Resolved, waiting for the callback', 'nav.callbacks': 'Callbacks',
      'ticket.back': '← Back', 'ticket.title': '#{id} {subject}',
      'f.tier': 'Line', 'f.state': 'State', 'f.severity': 'Severity', 'f.category': 'Category',
      'f.channel': 'Channel', 'f.assignee': 'Assignee', 'f.customer': 'Customer', 'f.description': 'Description',
      'f.created': 'Created', 'f.ref': 'Reference', 'f.resolution': 'Resolution', 'f.root_cause': 'Root cause',
      'f.plan': 'Plan', 'f.problem': 'Problem',
      'd.ack': 'Acknowledge', 'd.resolve': 'Resolve', 'd.callback': 'Call back', 'd.promise': 'Promised',
      'due.in': '{what} in {t}', 'due.over': '{what} overdue by {t}',
      'actions.title': 'Actions', 'actions.none': 'Nothing for you to do on this ticket now.',
      'act.acknowledge': 'Acknowledge', 'act.escalate': 'Escalate', 'act.return': 'Return',
      'act.wait': 'Wait for customer', 'act.resume': 'Resume', 'act.resolve': 'Resolve',
      'act.close': 'Close after callback', 'act.reopen': 'Reopen', 'act.plan': 'Plan',
      'act.done': '{action}: done.',
      'form.submit': 'Confirm', 'form.cancel': 'Cancel', 'form.close': 'Close',
      'form.reason': 'Reason', 'form.resolution': 'Resolution', 'form.root_cause': 'Root cause',
      'form.solution': 'Proposed solution', 'form.promised_at': 'Done by',
      'form.result': 'Callback result', 'form.score': 'Score (1–5, optional)', 'form.feedback': 'Feedback (optional)',
      'form.satisfied': 'Satisfied', 'form.unsatisfied': 'Unsatisfied',
      'form.stale': 'Someone changed this ticket meanwhile (now version {v}). It has been reloaded: check it and try again.',
      'rc.customer_side': 'Customer side', 'rc.operations': 'Operations', 'rc.product_defect': 'Product defect', 'rc.other': 'Other',
      'history.title': 'History', 'comment.label': 'Comment', 'comment.submit': 'Add comment',
      'new.title': 'Record a complaint', 'new.subject': 'Subject', 'new.description': 'Description',
      'new.category': 'Category', 'new.severity': 'Severity', 'new.channel': 'Channel',
      'new.customer': 'Customer', 'new.name': 'Name', 'new.phone': 'Phone', 'new.email': 'E-mail',
      'new.ref': 'Reference in your system (optional)', 'new.submit': 'Record', 'new.none': '(none)',
      'new.done': 'Complaint #{id} recorded; line 1 has 10 minutes to acknowledge it.',
      'severity.normal': 'Normal', 'severity.major': 'Major',
      'ch.phone': 'Phone', 'ch.wechat': 'WeChat', 'ch.email': 'E-mail', 'ch.web': 'Web', 'ch.letter': 'Letter',
      'ch.walk_in': 'Walk-in', 'ch.other': 'Other',
      'tier.line-1': 'line 1', 'tier.line-2': 'line 2', 'tier.line-3': 'line 3',
      'state.awaiting_ack': 'Awaiting acknowledgement', 'state.acknowledged': 'Acknowledged',
      'state.waiting_customer': 'Waiting for customer', 'state.resolved': 'Resolved (callback due)', 'state.closed': 'Closed',
      'ev.created': 'recorded', 'ev.acknowledged': 'acknowledged', 'ev.escalated': 'escalated',
      'ev.returned': 'returned', 'ev.waiting': 'waiting for the customer', 'ev.resumed': 'resumed',
      'ev.resolved': 'resolved', 'ev.closed': 'closed', 'ev.reopened': 'reopened', 'ev.commented': 'comment',
      'ev.breached': '{kind} deadline missed', 'ev.at_risk': 'resolution deadline at risk',
      'ev.customer_revealed': 'customer data shown to a manager', 'ev.notified': 'managers alerted',
      'ev.planned': 'plan', 'ev.system': 'system', 'ev.move': '{from} → {to}',
      'breach': 'breached: {kinds}',
      'help.title': 'Keyboard shortcuts',
      'k.jk': 'next / previous ticket', 'k.enter': 'open the selected ticket', 'k.a': 'acknowledge the selected ticket',
      'k.c': 'claim next', 'k.r': 'refresh', 'k.1': 'queue', 'k.2': 'my tickets', 'k.3': 'new complaint',
      'k.esc': 'back / close', 'k.help': 'this help',
      'err.network': 'The server did not answer ({msg}). Retrying…',
      'unit.s': '{s} s', 'unit.ms': '{m} min {s} s', 'unit.h': '{h} h {m} min', 'unit.d': '{d} d {h} h'
    },
    zh: {
      'title': '坐席工作台', 'signout': '退出',
      'nav.queue': '待受理队列', 'nav.mine': '我的工单', 'nav.new': '登记投诉',
      'login.title': '使用令牌登录',
      'login.help': '令牌只保存在本浏览器标签页中（会话存储），并随每个请求发送。坐席看到本线的队列；前台登记投诉。',
      'login.label': '令牌', 'login.submit': '登录',
      'login.bad': '令牌无效（401）。请检查后重新输入。',
      'login.expired': '令牌已失效（401）。请重新登录。',
      'login.failed': '无法访问服务器：{msg}',
      'who': '{name} · {role}', 'who.tier': '{name} · {tier}坐席',
      'role.frontdesk': '前台', 'role.agent': '坐席', 'role.manager': '主管', 'role.admin': '管理员',
      'queue.title': '待受理队列：', 'queue.claim': '领取下一张',
      'queue.order': '最紧急的在前：重大投诉优先，其次是受理时限最早的——即“领取下一张”的顺序。',
      'queue.empty': '队列中没有待受理的工单。', 'queue.count': '{n} 张待受理',
      'queue.claimed': '已领取工单 #{id}。', 'queue.none': '队列为空，没有可领取的工单。',
      'queue.ack': '受理',
      'mine.title': '我的工单', 'mine.empty': '您没有未关闭的工单。',
      'mine.callbacks': '已解决、待回访的工单', 'nav.callbacks': '待回访',
      'ticket.back': '← 返回', 'ticket.title': '#{id} {subject}',
      'f.tier': '线别', 'f.state': '状态', 'f.severity': '严重程度', 'f.category': '类别',
      'f.channel': '渠道', 'f.assignee': '处理人', 'f.customer': '客户', 'f.description': '描述',
      'f.created': '登记时间', 'f.ref': '外部编号', 'f.resolution': '解决方案', 'f.root_cause': '根本原因',
      'f.plan': '处理计划', 'f.problem': '问题单',
      'd.ack': '受理', 'd.resolve': '解决', 'd.callback': '回访', 'd.promise': '承诺完成',
      'due.in': '{what}时限：还剩 {t}', 'due.over': '{what}已超时 {t}',
      'actions.title': '操作', 'actions.none': '您目前无需对此工单操作。',
      'act.acknowledge': '受理', 'act.escalate': '升级', 'act.return': '退回',
      'act.wait': '等待客户', 'act.resume': '恢复处理', 'act.resolve': '解决',
      'act.close': '回访后关闭', 'act.reopen': '重新打开', 'act.plan': '提出方案',
      'act.done': '{action}：已完成。',
      'form.submit': '确认', 'form.cancel': '取消', 'form.close': '关闭',
      'form.reason': '原因', 'form.resolution': '解决方案', 'form.root_cause': '根本原因',
      'form.solution': '解决方案', 'form.promised_at': '承诺完成时间',
      'form.result': '回访结果', 'form.score': '评分（1–5，可选）', 'form.feedback': '客户意见（可选）',
      'form.satisfied': '满意', 'form.unsatisfied': '不满意',
      'form.stale': '此工单已被他人修改（现为第 {v} 版），已重新加载。请核对后再试。',
      'rc.customer_side': '客户方原因', 'rc.operations': '运营原因', 'rc.product_defect': '产品缺陷', 'rc.other': '其他',
      'history.title': '处理记录', 'comment.label': '备注', 'comment.submit': '添加备注',
      'new.title': '登记投诉', 'new.subject': '主题', 'new.description': '描述',
      'new.category': '类别', 'new.severity': '严重程度', 'new.channel': '渠道',
      'new.customer': '客户', 'new.name': '姓名', 'new.phone': '电话', 'new.email': '电子邮件',
      'new.ref': '外部系统编号（可选）', 'new.submit': '登记', 'new.none': '（无）',
      'new.done': '投诉 #{id} 已登记；一线须在 10 分钟内受理。',
      'severity.normal': '一般', 'severity.major': '重大',
      'ch.phone': '电话', 'ch.wechat': '微信', 'ch.email': '电子邮件', 'ch.web': '网站', 'ch.letter': '信函',
      'ch.walk_in': '来访', 'ch.other': '其他',
      'tier.line-1': '一线', 'tier.line-2': '二线', 'tier.line-3': '三线',
      'state.awaiting_ack': '待受理', 'state.acknowledged': '处理中',
      'state.waiting_customer': '等待客户', 'state.resolved': '已解决（待回访）', 'state.closed': '已关闭',
      'ev.created': '登记', 'ev.acknowledged': '受理', 'ev.escalated': '升级',
      'ev.returned': '退回', 'ev.waiting': '等待客户', 'ev.resumed': '恢复处理',
      'ev.resolved': '解决', 'ev.closed': '关闭', 'ev.reopened': '重新打开', 'ev.commented': '备注',
      'ev.breached': '{kind}超时', 'ev.at_risk': '解决时限临近',
      'ev.customer_revealed': '主管查看了客户资料', 'ev.notified': '已通知主管',
      'ev.planned': '处理计划', 'ev.system': '系统', 'ev.move': '{from} → {to}',
      'breach': '已超时：{kinds}',
      'help.title': '快捷键',
      'k.jk': '下一张 / 上一张', 'k.enter': '打开所选工单', 'k.a': '受理所选工单',
      'k.c': '领取下一张', 'k.r': '刷新', 'k.1': '待受理队列', 'k.2': '我的工单', 'k.3': '登记投诉',
      'k.esc': '返回 / 关闭', 'k.help': '本帮助',
      'err.network': '服务器无响应（{msg}），正在重试……',
      'unit.s': '{s} 秒', 'unit.ms': '{m} 分 {s} 秒', 'unit.h': '{h} 小时 {m} 分', 'unit.d': '{d} 天 {h} 小时'
    }
  };

  var lang = sessionStorage.getItem(LANG_KEY) ||
    (new URLSearchParams(location.search).get('lang') === 'zh' ? 'zh' : 'en');
  var token = sessionStorage.getItem(TOKEN_KEY);
  var me = null;
  var clockSkew = 0;           /* server time - local time, ms (from the Date header) */
  var timer = null;            /* the current view's refresh */
  var view = null;             /* 'queue' | 'mine' | 'ticket' | 'new' */
  var queueTier = null;
  var rows = [];               /* the tickets of the list shown, in order */
  var sel = 0;                 /* selected row */
  var current = null;          /* {ticket, events, actions} of the ticket page */
  var pending = null;          /* the action whose form is open */
  var taxonomy = null;         /* [{code, name}] flattened, or null */

  function $(id) { return document.getElementById(id); }
  function t(key, args) {
    var s = (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
    return s.replace(/\{(\w+)\}/g, function (m, k) { return args && k in args ? String(args[k]) : m; });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function show(id, on) { $(id).hidden = !on; }
  function setError(id, msg) { var e = $(id); e.textContent = msg || ''; e.hidden = !msg; }
  function flash(msg) {
    var f = $('flash'); f.textContent = msg; f.hidden = false;
    clearTimeout(flash.t); flash.t = setTimeout(function () { f.hidden = true; }, 6000);
  }
  function now() { return Date.now() + clockSkew; }
  /* The server's clock: /v1/me says it to the millisecond; the offset is
     taken from the answer's middle of the round trip, and kept until the
     next /v1/me (every few minutes), so countdowns tick steadily. */
  function learnClock(serverIso, sentMs, receivedMs) {
    var server = Date.parse(serverIso);
    if (!isNaN(server)) clockSkew = server - (sentMs + receivedMs) / 2;
  }
  function applyI18n() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.querySelectorAll('[data-i18n]').forEach(function (e) { e.textContent = t(e.dataset.i18n); });
    $('lang').textContent = $('lang2').textContent = lang === 'zh' ? 'English' : '中文';
    $('lang').lang = $('lang2').lang = lang === 'zh' ? 'en' : 'zh';
    document.title = 'escalated · ' + t('title');
    fillChannels();
    if (me) {
      showWho();
      if (me.role === 'frontdesk') $('nav-mine').textContent = t('nav.callbacks');
    }
  }

  /* ---- the API ---- */

  function ApiError(status, code, message, body) {
    this.status = status; this.code = code; this.message = message; this.body = body;
  }
  function api(method, path, body, headers) {
    var h = {'Authorization': 'Bearer ' + token};
    if (body !== undefined) h['Content-Type'] = 'application/json';
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(path, {method: method, headers: h, cache: 'no-store',
                        body: body === undefined ? undefined : JSON.stringify(body)})
      .then(function (res) {
        if (res.status === 204) return null;
        return res.text().then(function (txt) {
          var j = null;
          try { j = txt ? JSON.parse(txt) : null; } catch (e) { j = null; }
          if (res.ok) return j;
          var err = j && j.error ? j.error : {code: 'http_' + res.status, message: res.statusText};
          if (res.status === 401 && token) signOut(t('login.expired'));
          throw new ApiError(res.status, err.code, err.message || ('HTTP ' + res.status), j);
        });
      });
  }
  function msgOf(e) { return e instanceof ApiError ? e.message : (e && e.message) || String(e); }

  /* ---- time ---- */

  function span(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    if (s < 60) return t('unit.s', {s: s});
    if (s < 3600) return t('unit.ms', {m: Math.floor(s / 60), s: s % 60});
    if (s < 86400) return t('unit.h', {h: Math.floor(s / 3600), m: Math.floor(s % 3600 / 60)});
    return t('unit.d', {d: Math.floor(s / 86400), h: Math.floor(s % 86400 / 3600)});
  }
  function localTime(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB',
                            {year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'});
  }
  /* An element that counts down to `iso` (updated by tick()). */
  function dueEl(kind, iso) {
    var e = el('span', 'due');
    e.dataset.due = iso; e.dataset.kind = kind;
    e.title = localTime(iso);
    paintDue(e);
    return e;
  }
  function paintDue(e) {
    var left = Date.parse(e.dataset.due) - now(), what = t('d.' + e.dataset.kind);
    e.textContent = left >= 0 ? t('due.in', {what: what, t: span(left)}) : t('due.over', {what: what, t: span(left)});
    e.classList.toggle('over', left < 0);
    e.classList.toggle('soon', left >= 0 && left < SOON_MS);
  }
  function tick() { document.querySelectorAll('.due[data-due]').forEach(paintDue); }
  setInterval(tick, 1000);

  /* The deadline an agent cares about most on a ticket, as [kind, iso]. */
  function nextDeadline(tk) {
    var c = [['ack', tk.ack_due_at], ['resolve', tk.resolve_due_at], ['promise', promisedAt(tk)],
             ['callback', tk.callback_due_at]].filter(function (x) { return x[1]; });
    c.sort(function (a, b) { return Date.parse(a[1]) - Date.parse(b[1]); });
    return c[0] || null;
  }
  function promisedAt(tk) { return tk.plan && tk.plan.promised_at ? tk.plan.promised_at : (tk.promised_at || null); }

  /* ---- sign in ---- */

  function signOut(msg) {
    token = null; me = null;
    sessionStorage.removeItem(TOKEN_KEY);
    stopTimer();
    ['view-queue', 'view-mine', 'view-ticket', 'view-new'].forEach(function (v) { show(v, false); });
    show('nav', false); $('who').textContent = '';
    $('flash').hidden = true;
    show('login', true);
    setError('login-error', msg || '');
    $('token').value = '';
    $('token').focus();
  }
  function whoAmI() {
    var sent = Date.now();
    return api('GET', '/v1/me').then(function (m) {
      learnClock(m.server_time, sent, Date.now());
      return m;
    });
  }
  setInterval(function () { if (me) whoAmI().catch(function () {}); }, 5 * 60 * 1000);
  function signIn(tok) {
    token = tok;
    return whoAmI().then(function (m) {
      me = m;
      sessionStorage.setItem(TOKEN_KEY, tok);
      show('login', false); show('nav', true);
      show('nav-new', m.role !== 'agent');
      $('nav-mine').textContent = t(m.role === 'frontdesk' ? 'nav.callbacks' : 'nav.mine');
      showWho();
      loadTaxonomy();
      if (!location.hash || location.hash === '#/' || location.hash === '#') {
        location.hash = m.role === 'frontdesk' ? '#/new' : (m.role === 'agent' ? '#/queue' : '#/queue');
      } else {
        route();
      }
    });
  }
  function showWho() {
    $('who').textContent = me.tier ? t('who.tier', {name: me.name, tier: t('tier.' + me.tier)})
                                   : t('who', {name: me.name, role: t('role.' + me.role)});
  }

  /* ---- views ---- */

  function stopTimer() { if (timer) { clearInterval(timer); timer = null; } }
  function every(ms, fn) { stopTimer(); fn(); timer = setInterval(fn, ms); }
  function switchTo(v) {
    view = v;
    ['queue', 'mine', 'ticket', 'new'].forEach(function (x) { show('view-' + x, x === v); });
    ['queue', 'mine', 'new'].forEach(function (x) { $('nav-' + x).classList.toggle('on', x === v); });
    pending = null;
  }
  function route() {
    if (!me) return;
    var h = location.hash.replace(/^#\/?/, '').split('/');
    if (h[0] === 'ticket' && /^[1-9][0-9]*$/.test(h[1] || '')) return openTicket(h[1]);
    if (h[0] === 'mine') return openMine();
    if (h[0] === 'new' && me.role !== 'agent') return openNew();
    if (me.role === 'frontdesk') { location.hash = '#/new'; return; }
    return openQueue(h[1]);
  }

  /* A row of a ticket list. */
  function ticketRow(tk, withAck) {
    var li = el('li');
    li.dataset.id = tk.id;
    var subj = el('div', 'subj', '#' + tk.id + ' ' + tk.subject);
    var meta = el('div', 'meta', [t('tier.' + tk.tier), t('state.' + tk.state), categoryLabel(tk.category) || '',
                                   localTime(tk.created_at)].filter(Boolean).join(' · '));
    var side = el('div', 'side');
    if (tk.severity === 'major') side.appendChild(el('span', 'badge major', t('severity.major')));
    var d = nextDeadline(tk);
    if (d) side.appendChild(dueEl(d[0], d[1]));
    if (withAck) {
      var b = el('button', 'ghost ack', t('queue.ack'));
      b.type = 'button';
      b.addEventListener('click', function (ev) { ev.stopPropagation(); acknowledge(tk.id); });
      side.appendChild(b);
    }
    li.appendChild(subj); li.appendChild(side); li.appendChild(meta);
    li.addEventListener('click', function () { location.hash = '#/ticket/' + tk.id; });
    return li;
  }
  function paintList(listId, emptyId, items, withAck) {
    var keep = rows[sel] ? rows[sel].id : null;
    rows = items;
    var ol = $(listId);
    ol.textContent = '';
    items.forEach(function (tk) { ol.appendChild(ticketRow(tk, withAck)); });
    show(emptyId, items.length === 0);
    var i = keep === null ? 0 : items.findIndex(function (x) { return x.id === keep; });
    select(i < 0 ? Math.min(sel, items.length - 1) : i);
  }
  function select(i) {
    var lis = document.querySelectorAll('#view-' + view + ' ol.tickets li');
    if (!lis.length) { sel = 0; return; }
    sel = Math.max(0, Math.min(i, lis.length - 1));
    lis.forEach(function (li, k) { li.classList.toggle('sel', k === sel); });
    if (lis[sel].scrollIntoView) lis[sel].scrollIntoView({block: 'nearest'});
  }

  function openQueue(tier) {
    switchTo('queue');
    var tiers = ['line-1', 'line-2', 'line-3'];
    if (me.role === 'agent') queueTier = me.tier;
    else queueTier = tiers.indexOf(tier) >= 0 ? tier : (queueTier || 'line-1');
    var s = $('queue-select');
    s.hidden = me.role === 'agent';
    if (!s.options.length) tiers.forEach(function (x) { var o = el('option', null, x); o.value = x; s.appendChild(o); });
    s.value = queueTier;
    $('queue-tier').textContent = t('tier.' + queueTier);
    show('claim', me.role === 'agent');
    every(QUEUE_EVERY_MS, loadQueue);
  }
  function loadQueue() {
    var tier = queueTier;
    return api('GET', '/v1/queues/' + tier + '?limit=100').then(function (q) {
      if (view !== 'queue' || tier !== queueTier) return;
      setError('queue-error', '');
      $('queue-count').textContent = t('queue.count', {n: q.queued});
      paintList('queue-list', 'queue-empty', q.items, me.role === 'agent');
    }).catch(function (e) { if (view === 'queue') setError('queue-error', msgOf(e)); });
  }
  function claim() {
    if (!me || me.role !== 'agent') return;
    $('claim').disabled = true;
    api('POST', '/v1/queues/' + me.tier + '/claim').then(function (tk) {
      if (!tk) { flash(t('queue.none')); loadQueue(); return; }
      flash(t('queue.claimed', {id: tk.id}));
      location.hash = '#/ticket/' + tk.id;
    }).catch(function (e) { setError('queue-error', msgOf(e)); })
      .then(function () { $('claim').disabled = false; });
  }
  function acknowledge(id) {
    api('POST', '/v1/tickets/' + id + '/acknowledge', {}).then(function () {
      flash(t('act.done', {action: t('act.acknowledge')}));
      location.hash = '#/ticket/' + id;
    }).catch(function (e) { setError(view + '-error', msgOf(e)); if (view === 'queue') loadQueue(); });
  }

  function openMine() {
    switchTo('mine');
    $('mine-title').textContent = t(me.role === 'frontdesk' ? 'mine.callbacks' : 'mine.title');
    $('nav-mine').textContent = t(me.role === 'frontdesk' ? 'nav.callbacks' : 'nav.mine');
    every(MINE_EVERY_MS, loadMine);
  }
  function loadMine() {
    /* the front desk makes the callbacks: its list is every resolved ticket
       waiting for one; everyone else's, what is assigned to them */
    var q = me.role === 'frontdesk' ? 'state=resolved&limit=200'
                                    : 'assignee=me&state=awaiting_ack,acknowledged,waiting_customer,resolved&limit=200';
    return api('GET', '/v1/tickets?' + q)
      .then(function (r) {
        if (view !== 'mine') return;
        setError('mine-error', '');
        var items = r.items.slice().sort(function (a, b) {
          var da = nextDeadline(a), db = nextDeadline(b);
          return (da ? Date.parse(da[1]) : Infinity) - (db ? Date.parse(db[1]) : Infinity) || a.id - b.id;
        });
        paintList('mine-list', 'mine-empty', items, false);
      }).catch(function (e) { if (view === 'mine') setError('mine-error', msgOf(e)); });
  }

  /* ---- a ticket ---- */

  function openTicket(id) {
    switchTo('ticket');
    current = null;
    $('back').href = me.role === 'agent' ? '#/queue' : (me.role === 'frontdesk' ? '#/new' : '#/queue');
    $('action-form').hidden = true;
    every(TICKET_EVERY_MS, function () { loadTicket(id, false); });
  }
  function loadTicket(id, force) {
    return Promise.all([api('GET', '/v1/tickets/' + id), api('GET', '/v1/tickets/' + id + '/events'),
                        api('GET', '/v1/tickets/' + id + '/actions')])
      .then(function (r) {
        if (view !== 'ticket') return;
        setError('ticket-error', '');
        var changed = force || !current || current.ticket.version !== r[0].version ||
          current.events.length !== r[1].items.length || current.actions.join() !== r[2].actions.join();
        current = {ticket: r[0], events: r[1].items, actions: r[2].actions};
        if (changed) paintTicket();
      }).catch(function (e) { if (view === 'ticket') setError('ticket-error', msgOf(e)); });
  }
  function field(dl, key, value) {
    if (value === null || value === undefined || value === '') return;
    dl.appendChild(el('dt', null, t(key)));
    dl.appendChild(el('dd', null, value));
  }
  function paintTicket() {
    var tk = current.ticket;
    $('t-title').textContent = t('ticket.title', {id: tk.id, subject: tk.subject});
    var b = $('t-badges'); b.textContent = '';
    b.appendChild(el('span', 'badge', t('tier.' + tk.tier)));
    b.appendChild(el('span', 'badge', t('state.' + tk.state)));
    if (tk.severity === 'major') b.appendChild(el('span', 'badge major', t('severity.major')));
    if (tk.breaches && tk.breaches.length) b.appendChild(el('span', 'badge breach', t('breach', {kinds: tk.breaches.join(', ')})));
    var dl = $('t-fields'); dl.textContent = '';
    field(dl, 'f.category', categoryLabel(tk.category));
    field(dl, 'f.channel', t('ch.' + tk.channel));
    field(dl, 'f.assignee', tk.assignee ? tk.assignee.name : null);
    var c = tk.customer || {};
    field(dl, 'f.customer', [c.name, c.phone, c.email, c.id_number, c.bank_card].filter(Boolean).join(' · '));
    field(dl, 'f.description', tk.description);
    field(dl, 'f.created', localTime(tk.created_at));
    field(dl, 'f.ref', tk.external_ref);
    if (tk.plan) field(dl, 'f.plan', tk.plan.solution + (tk.plan.promised_at ? ' (' + localTime(tk.plan.promised_at) + ')' : ''));
    field(dl, 'f.problem', tk.problem_id ? '#' + tk.problem_id : null);
    field(dl, 'f.resolution', tk.resolution);
    field(dl, 'f.root_cause', tk.root_cause ? t('rc.' + tk.root_cause) : null);
    var dd = $('t-deadlines'); dd.textContent = '';
    [['ack', tk.ack_due_at], ['resolve', tk.resolve_due_at], ['promise', promisedAt(tk)],
     ['callback', tk.callback_due_at]].forEach(function (x) { if (x[1]) dd.appendChild(dueEl(x[0], x[1])); });
    paintActions();
    paintHistory();
    $('comment-form').hidden = tk.state === 'closed';
  }
  function paintActions() {
    var box = $('t-actions'); box.textContent = '';
    var acts = current.actions.filter(function (a) { return a !== 'comment'; });
    acts.sort(function (a, b) { return ACTION_ORDER.indexOf(a) - ACTION_ORDER.indexOf(b); });
    acts.forEach(function (a) {
      var btn = el('button', a === 'resolve' ? '' : 'ghost', t('act.' + a));
      btn.type = 'button'; btn.dataset.action = a;
      btn.addEventListener('click', function () { startAction(a); });
      box.appendChild(btn);
    });
    show('t-noactions', acts.length === 0);
    if (pending && acts.indexOf(pending) < 0) { pending = null; $('action-form').hidden = true; }
  }
  function evText(ev) {
    var parts = [];
    var label = ev.type === 'breached' ? t('ev.breached', {kind: t('d.' + (ev.kind || 'resolve'))}) : t('ev.' + ev.type);
    parts.push(label);
    if (ev.from_tier && ev.to_tier && ev.from_tier !== ev.to_tier)
      parts.push(t('ev.move', {from: t('tier.' + ev.from_tier), to: t('tier.' + ev.to_tier)}));
    return parts.join(' · ');
  }
  function paintHistory() {
    var ol = $('t-history'); ol.textContent = '';
    current.events.forEach(function (ev) {
      var li = el('li', ev.type);
      li.dataset.type = ev.type;
      li.appendChild(el('div', 'when', localTime(ev.at) + ' · ' + (ev.actor ? ev.actor.name : t('ev.system'))));
      li.appendChild(el('div', 'what', evText(ev)));
      var text = ev.body || ev.reason || ev.resolution ||
        (ev.plan ? ev.plan.solution + ' → ' + localTime(ev.plan.promised_at) : null) ||
        (ev.satisfaction ? ev.satisfaction.result + (ev.satisfaction.feedback ? ': ' + ev.satisfaction.feedback : '') : null);
      if (text) li.appendChild(el('div', 'text', text));
      ol.appendChild(li);
    });
  }

  /* The form of an action: [name, kind, required] per field. */
  var FORMS = {
    acknowledge: [], resume: [],
    escalate: [['reason', 'textarea', true]], 'return': [['reason', 'textarea', true]],
    wait: [['reason', 'textarea', true]], reopen: [['reason', 'textarea', true]],
    resolve: [['resolution', 'textarea', true], ['root_cause', 'root_cause', true]],
    plan: [['solution', 'textarea', true], ['promised_at', 'datetime', true]],
    close: [['result', 'result', true], ['score', 'score', false], ['feedback', 'textarea', false]]
  };
  function startAction(a) {
    var spec = FORMS[a] || [];
    if (!spec.length) return submitAction(a, {});
    pending = a;
    $('af-title').textContent = t('act.' + a);
    var box = $('af-fields'); box.textContent = '';
    spec.forEach(function (f) {
      var id = 'af-' + f[0], lab = el('label', null, t('form.' + f[0])), input;
      lab.htmlFor = id;
      if (f[1] === 'textarea') { input = el('textarea'); input.rows = 3; input.maxLength = 10000; }
      else if (f[1] === 'datetime') {
        input = el('input'); input.type = 'datetime-local';
        var d = new Date(now() + 4 * 3600 * 1000 - new Date().getTimezoneOffset() * 60000);
        input.value = d.toISOString().slice(0, 16);
      } else if (f[1] === 'score') { input = el('input'); input.type = 'number'; input.min = 1; input.max = 5; }
      else {
        input = el('select');
        (f[1] === 'root_cause' ? ROOT_CAUSES : ['satisfied', 'unsatisfied']).forEach(function (v) {
          var o = el('option', null, f[1] === 'root_cause' ? t('rc.' + v) : t('form.' + v)); o.value = v; input.appendChild(o);
        });
      }
      input.id = id; input.required = f[2];
      box.appendChild(lab); box.appendChild(input);
    });
    setError('af-error', '');
    $('action-form').hidden = false;
    var first = box.querySelector('textarea,input,select');
    if (first) first.focus();
  }
  function formBody(a) {
    var v = function (n) { var e = $('af-' + n); return e ? e.value.trim() : ''; };
    switch (a) {
    case 'resolve': return {resolution: v('resolution'), root_cause: v('root_cause')};
    case 'plan': return {plan: {solution: v('solution'), promised_at: new Date(v('promised_at')).toISOString()}};
    case 'close': return {satisfaction: {result: v('result'), score: v('score') ? Number(v('score')) : null,
                                         feedback: v('feedback') || null}};
    default: return {reason: v('reason')};
    }
  }
  function submitAction(a, body) {
    var tk = current.ticket;
    $('af-submit').disabled = true;
    return api('POST', '/v1/tickets/' + tk.id + '/' + a, body, {'If-Match': '"' + tk.version + '"'})
      .then(function () {
        pending = null; $('action-form').hidden = true;
        flash(t('act.done', {action: t('act.' + a)}));
        return loadTicket(tk.id, true);
      }).catch(function (e) {
        var msg = msgOf(e);
        if (e instanceof ApiError && e.status === 412) {
          loadTicket(tk.id, true).then(function () { setError('af-error', t('form.stale', {v: current.ticket.version})); });
          msg = t('form.stale', {v: '?'});
        }
        if (FORMS[a] && FORMS[a].length) setError('af-error', msg); else setError('ticket-error', msg);
      }).then(function () { $('af-submit').disabled = false; });
  }

  /* ---- the front desk's form ---- */

  function fillChannels() {
    var s = $('n-channel'), v = s.value || 'phone';
    s.textContent = '';
    CHANNELS.forEach(function (c) { var o = el('option', null, t('ch.' + c)); o.value = c; s.appendChild(o); });
    s.value = v;
    fillCategories();
  }
  /* The taxonomy, flattened to [{code, name, depth}], when the server has one. */
  function loadTaxonomy() {
    api('GET', '/v1/categories').then(function (doc) {
      var out = [];
      (function walk(nodes, depth) {
        (nodes || []).forEach(function (n) {
          out.push({code: n.code, zh: n.name && n.name.zh, en: n.name && n.name.en, depth: depth});
          walk(n.children, depth + 1);
        });
      })(doc && doc.categories, 0);
      taxonomy = out.length ? out : null;
      fillCategories();
    }).catch(function () { taxonomy = null; fillCategories(); });
  }
  /* A category code as people read it: its name in the taxonomy, if it has one. */
  function categoryLabel(code) {
    if (!code || !taxonomy) return code;
    for (var i = 0; i < taxonomy.length; i++) {
      var c = taxonomy[i];
      if (c.code === code) return ((lang === 'zh' ? c.zh : c.en) || code) + ' (' + code + ')';
    }
    return code;
  }
  function fillCategories() {
    var s = $('n-category'), txt = $('n-category-text');
    s.hidden = !taxonomy; txt.hidden = !!taxonomy;
    if (!taxonomy) return;
    var v = s.value;
    s.textContent = '';
    var none = el('option', null, t('new.none')); none.value = ''; s.appendChild(none);
    taxonomy.forEach(function (c) {
      var o = el('option', null, '\u00a0\u00a0'.repeat(c.depth) + ((lang === 'zh' ? c.zh : c.en) || c.code));
      o.value = c.code; s.appendChild(o);
    });
    s.value = v;
  }
  function randomKey() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return 'console-' + Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }
  var newKey = null; /* the Idempotency-Key of the form's current content: a retry is not a second complaint */
  function openNew() {
    switchTo('new');
    stopTimer();
    setError('new-error', '');
    $('n-subject').focus();
  }
  function submitNew(ev) {
    ev.preventDefault();
    var v = function (id) { return $(id).value.trim(); };
    var body = {subject: v('n-subject'), severity: v('n-severity'), channel: v('n-channel')};
    if (v('n-description')) body.description = v('n-description');
    var cat = taxonomy ? v('n-category') : v('n-category-text');
    if (cat) body.category = cat;
    if (v('n-ref')) body.external_ref = v('n-ref');
    var cust = {};
    if (v('n-name')) cust.name = v('n-name');
    if (v('n-phone')) cust.phone = v('n-phone');
    if (v('n-email')) cust.email = v('n-email');
    if (Object.keys(cust).length) body.customer = cust;
    if (!newKey) newKey = randomKey();
    $('n-submit').disabled = true;
    api('POST', '/v1/tickets', body, {'Idempotency-Key': newKey}).then(function (tk) {
      newKey = null;
      $('new-form').reset();
      fillCategories();
      setError('new-error', '');
      flash(t('new.done', {id: tk.id}));
      if (me.role !== 'frontdesk') location.hash = '#/ticket/' + tk.id;
    }).catch(function (e) {
      setError('new-error', msgOf(e) + (e.body && e.body.error && e.body.error.field ? ' (' + e.body.error.field + ')' : ''));
    }).then(function () { $('n-submit').disabled = false; });
  }

  /* ---- keyboard ---- */

  var KEYS = [['j / ↓', 'k.jk'], ['Enter', 'k.enter'], ['a', 'k.a'], ['c', 'k.c'], ['r', 'k.r'],
              ['1', 'k.1'], ['2', 'k.2'], ['3', 'k.3'], ['Esc', 'k.esc'], ['?', 'k.help']];
  function showHelp(on) {
    var tb = $('help-keys'); tb.textContent = '';
    KEYS.forEach(function (k) {
      var tr = el('tr'), td = el('td');
      td.appendChild(el('kbd', null, k[0])); tr.appendChild(td); tr.appendChild(el('td', null, t(k[1])));
      tb.appendChild(tr);
    });
    show('help-box', on);
  }
  document.addEventListener('keydown', function (e) {
    if (!me || e.ctrlKey || e.metaKey || e.altKey) return;
    var tag = (e.target.tagName || '').toLowerCase();
    if (e.key === 'Escape') {
      if (!$('help-box').hidden) return showHelp(false);
      if (pending) { pending = null; $('action-form').hidden = true; return; }
      if (view === 'ticket') { location.hash = $('back').getAttribute('href'); }
      return;
    }
    if (tag === 'input' || tag === 'textarea' || tag === 'select') return;
    var list = view === 'queue' || view === 'mine';
    switch (e.key) {
    case 'j': case 'ArrowDown': if (list) { select(sel + 1); e.preventDefault(); } break;
    case 'k': case 'ArrowUp': if (list) { select(sel - 1); e.preventDefault(); } break;
    case 'Enter': case 'o': if (list && rows[sel]) location.hash = '#/ticket/' + rows[sel].id; break;
    case 'a':
      if (view === 'queue' && rows[sel] && me.role === 'agent') acknowledge(rows[sel].id);
      else if (view === 'ticket' && current && current.actions.indexOf('acknowledge') >= 0) startAction('acknowledge');
      break;
    case 'c': if (me.role === 'agent') claim(); break;
    case 'r': if (view === 'queue') loadQueue(); else if (view === 'mine') loadMine(); else if (view === 'ticket' && current) loadTicket(current.ticket.id, true); break;
    case '1': location.hash = '#/queue'; break;
    case '2': location.hash = '#/mine'; break;
    case '3': if (me.role !== 'agent') location.hash = '#/new'; break;
    case '?': showHelp($('help-box').hidden); break;
    default: return;
    }
  });

  /* ---- wiring ---- */

  function toggleLang() {
    lang = lang === 'zh' ? 'en' : 'zh';
    sessionStorage.setItem(LANG_KEY, lang);
    applyI18n();
    if (view === 'ticket' && current) paintTicket();
    else if (view === 'queue') loadQueue();
    else if (view === 'mine') loadMine();
  }
  $('lang').addEventListener('click', toggleLang);
  $('lang2').addEventListener('click', toggleLang);
  $('signout').addEventListener('click', function () { signOut(''); location.hash = ''; });
  $('help').addEventListener('click', function () { showHelp(true); });
  $('help-close').addEventListener('click', function () { showHelp(false); });
  $('claim').addEventListener('click', claim);
  $('queue-select').addEventListener('change', function () { location.hash = '#/queue/' + this.value; });
  $('af-cancel').addEventListener('click', function () { pending = null; $('action-form').hidden = true; });
  $('action-form').addEventListener('submit', function (e) { e.preventDefault(); if (pending) submitAction(pending, formBody(pending)); });
  $('comment-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var body = $('comment').value.trim();
    if (!body || !current) return;
    api('POST', '/v1/tickets/' + current.ticket.id + '/comment', {body: body}).then(function () {
      $('comment').value = ''; setError('comment-error', '');
      return loadTicket(current.ticket.id, true);
    }).catch(function (e) { setError('comment-error', msgOf(e)); });
  });
  $('new-form').addEventListener('submit', submitNew);
  $('new-form').addEventListener('input', function () { newKey = null; });
  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var tok = $('token').value.trim();
    if (!tok) return;
    setError('login-error', '');
    signIn(tok).catch(function (err) {
      token = null;
      setError('login-error', err instanceof ApiError && err.status === 401 ? t('login.bad') : t('login.failed', {msg: msgOf(err)}));
    });
  });
  window.addEventListener('hashchange', route);

  applyI18n();
  if (token) signIn(token).catch(function (e) { signOut(e instanceof ApiError && e.status === 401 ? t('login.expired') : t('login.failed', {msg: msgOf(e)})); });
  else signOut('');
})();
