// @ts-check
// The organisation's members and invitations; creating, joining, leaving and deleting one.

/** @typedef {import('../bindings/MemberView').MemberView} MemberView */
/** @typedef {import('../bindings/InvitationView').InvitationView} InvitationView */
/** @typedef {import('../bindings/InvitationSent').InvitationSent} InvitationSent */
/** @typedef {import('../bindings/OrgView').OrgView} OrgView */
/** @typedef {import('../bindings/DataKeyView').DataKeyView} DataKeyView */
/** @typedef {import('../bindings/RecoveryKeyView').RecoveryKeyView} RecoveryKeyView */

import { refreshAccount } from './account.js';
import { $, attempt, button, confirmed, el, input, invoke, item, orgs, shownOnce, visible } from './ui.js';

const ROLES = ['viewer', 'member', 'admin', 'owner'];

/** Reloads the organisation screen (shown when it opens). */
export async function refresh() {
  const org = orgs.current;
  $('org-title').textContent = org ? `Organisation ${org.name}` : 'Organisation';
  if (!org) {
    $('member-list').replaceChildren(item('Sign in, then create or join an organisation.'));
    $('invitation-list').replaceChildren();
    return;
  }
  refreshDataKey(org);
  const members = /** @type {MemberView[] | undefined} */ (await attempt(() => invoke('members', { org: org.id })));
  if (members) $('member-list').replaceChildren(...members.map((m) => member(org, m)));
  const admin = org.role === 'admin' || org.role === 'owner';
  $('invite-form').hidden = !admin;
  $('delete-form').hidden = org.role !== 'owner';
  if (!admin) {
    $('invitation-list').replaceChildren(item('Admins see and send invitations.'));
    return;
  }
  const pending = /** @type {InvitationView[] | undefined} */ (await attempt(() => invoke('invitations', { org: org.id })));
  if (!pending) return;
  $('invitation-list').replaceChildren(
    ...pending.map((i) => {
      const li = item(i.email, `${i.role} · expires ${i.expires}`);
      li.append(' ', confirmed('Withdraw', `Withdraw the invitation of ${i.email}`, async () => {
        if (await attempt(() => invoke('revoke_invitation', { org: org.id, invitation: i.id })) !== undefined) refresh();
      }));
      return li;
    }),
  );
  if (pending.length === 0) $('invitation-list').replaceChildren(item('No pending invitations.'));
}

/** @param {OrgView} org */
async function refreshDataKey(org) {
  const key = /** @type {DataKeyView | undefined} */ (await attempt(() => invoke('data_key', { org: org.id })));
  if (key) showDataKey(org, key);
}

/** @param {OrgView} org @param {DataKeyView} key */
function showDataKey(org, key) {
  $('data-key-state').textContent = key.fingerprint
    ? `This device holds the key of epoch ${key.epoch}, fingerprint ${key.fingerprint} (kept in ${key.kept === 'keyring' ? 'the keyring' : key.kept}).`
    : `This device does not hold the key of epoch ${key.epoch} yet.`;
  $('take-key').hidden = key.fingerprint !== null;
  $('device-list').replaceChildren(
    ...key.devices.map((d) => item(`${d.label}${d.this_device ? ' (this device)' : ''}`, `${d.owner} · ${d.holds_key ? 'holds the key' : 'waits for the key'}`)),
  );
  const recovery = $('recovery');
  if (org.role !== 'owner' || !key.fingerprint) {
    recovery.replaceChildren();
  } else if (key.recovery_written) {
    recovery.replaceChildren(el('p', `The recovery key of epoch ${key.epoch} was written down.`));
  } else {
    recovery.replaceChildren(
      el('p', 'Nobody wrote down the recovery key of this epoch. If every device that holds the key is lost, what was synced cannot be read again, by anyone.'),
      button('Show the recovery key (once)', 'Show the recovery key, once', async () => {
        const shown = /** @type {RecoveryKeyView | undefined} */ (await attempt(() => invoke('recovery_key', { org: org.id })));
        if (!shown) return;
        recovery.replaceChildren(
          el('p', `The recovery key of epoch ${shown.epoch} (fingerprint ${shown.fingerprint}). Keep it offline, like a password: with it and a sign-in, anyone reads what the organisation syncs.`),
          shownOnce(shown.key, 'recovery key'),
        );
      }),
    );
  }
}

$('take-key').addEventListener('click', async () => {
  const org = orgs.current;
  if (!org) return;
  const key = /** @type {DataKeyView | undefined} */ (await attempt(() => invoke('take_data_key', { org: org.id })));
  if (key) showDataKey(org, key);
});

/** @param {OrgView} org @param {MemberView} m */
function member(org, m) {
  const li = item(m.email, `joined ${m.joined}`);
  const role = /** @type {HTMLSelectElement} */ (el('select'));
  role.setAttribute('aria-label', `Role of ${m.email}`);
  role.append(...ROLES.map((r) => el('option', r)));
  role.value = m.role;
  role.disabled = org.role !== 'admin' && org.role !== 'owner';
  role.addEventListener('change', async () => {
    if (await attempt(() => invoke('set_member_role', { org: org.id, user: m.user_id, role: role.value })) === undefined) role.value = m.role;
  });
  li.append(' ', role);
  if (!role.disabled) {
    li.append(' ', confirmed('Remove', `Remove ${m.email} from ${org.name}`, async () => {
      if (await attempt(() => invoke('remove_member', { org: org.id, user: m.user_id })) !== undefined) refresh();
    }));
  }
  return li;
}

$('invite-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const org = orgs.current;
  if (!org) return;
  const role = /** @type {HTMLSelectElement} */ ($('invite-role')).value;
  const sent = /** @type {InvitationSent | undefined} */ (await attempt(() => invoke('invite', { org: org.id, email: input('invite-email').value, role })));
  if (!sent) return;
  input('invite-email').value = '';
  $('invite-token').replaceChildren(
    el('p', `Send this token to ${sent.invitation.email}; they join with it in Scry (Organisation → Join) once their email is verified.`),
    shownOnce(sent.token, 'invitation token'),
  );
  refresh();
});

$('org-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (await attempt(() => invoke('create_org', { name: input('org-name').value })) === undefined) return;
  input('org-name').value = '';
  await refreshAccount();
});

$('join-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (await attempt(() => invoke('accept_invitation', { token: input('join-token').value })) === undefined) return;
  input('join-token').value = '';
  await refreshAccount();
});

$('leave-org').replaceWith(
  confirmed('Leave this organisation', 'Leave the organisation shown', async () => {
    const org = orgs.current;
    if (org && (await attempt(() => invoke('leave_org', { org: org.id }))) !== undefined) await refreshAccount();
  }),
);

$('delete-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const org = orgs.current;
  if (!org) return;
  if (await attempt(() => invoke('delete_org', { org: org.id, confirm: input('delete-confirm').value })) === undefined) return;
  input('delete-confirm').value = '';
  await refreshAccount();
});

orgs.watch(() => {
  $('invite-token').replaceChildren();
  if (visible('org')) refresh();
});
