"""Users, logins (with rate limiting) and API tokens."""

from __future__ import annotations

import contextlib

from controlplane.accounts import credentials
from controlplane.accounts.rate_limits import record_failure, refuse_when_limited
from controlplane.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from controlplane.models import ROLES, ApiToken, Role, User
from controlplane.names import PASSWORD_MAX, validate_email, validate_password
from controlplane.store import Store

TOKEN_NAME_MAX = 100
# Admin UI sessions end after an idle hour-and-a-half, and at the latest after a week.
SESSION_IDLE_SECONDS = 90 * 60
SESSION_MAX_SECONDS = 7 * 24 * 3600


PASSWORD_OFF = (
    "password sign-in is turned off on this Wharf; sign in with your organisation's provider"
)


def _refuse_disabled(user: User) -> None:
    """Forbidden for a disabled account (said only once the password was right)."""
    if user.disabled:
        raise Forbidden(
            "this account is disabled; an admin can enable it again", code="account_disabled"
        )


class Accounts:
    """Account operations; every method that acts for someone takes the acting user."""

    def __init__(
        self,
        store: Store,
        signing_key: bytes,
        *,
        access_token_ttl: int,
        max_failures: int,
        failure_window: int,
    ) -> None:
        self.store = store
        self.signing_key = signing_key
        self.access_token_ttl = access_token_ttl
        self.max_failures = max_failures
        self.failure_window = failure_window

    async def login(self, email: object, password: object, client_address: str) -> str:
        """An access token for good credentials; Unauthorized, or RateLimited after failures."""
        if not isinstance(email, str) or not isinstance(password, str):
            raise Invalid("email and password are required strings", code="missing_credentials")
        account = email.strip().lower()
        password = password[:PASSWORD_MAX]
        checked = await self._check_password(account, password, client_address)
        if checked is None:
            raise Unauthorized("wrong email or password", code="invalid_credentials")
        user, password_hash = checked
        _refuse_disabled(user)
        await self._refuse_password_off(user)
        if credentials.needs_rehash(password_hash):
            await self.store.set_password_hash(user.id, await credentials.hash_password(password))
        return credentials.issue_access_token(user.id, self.signing_key, self.access_token_ttl)

    async def sign_in(self, email: object, password: object, client_address: str) -> str:
        """A new admin-UI session's cookie token for good credentials (rate-limited as login)."""
        if not isinstance(email, str) or not isinstance(password, str):
            raise Invalid("email and password are required", code="missing_credentials")
        checked = await self._check_password(
            email.strip().lower(), password[:PASSWORD_MAX], client_address
        )
        if checked is None:
            raise Unauthorized("wrong email or password", code="invalid_credentials")
        _refuse_disabled(checked[0])
        await self._refuse_password_off(checked[0])
        return await self.open_session(checked[0])

    async def open_session(self, user: User) -> str:
        """A new admin-UI session for a user whose sign-in was checked; its cookie token."""
        token, token_hash = credentials.new_session_token()
        await self.store.create_ui_session(user.id, token_hash)
        return token

    async def has_password(self, user: User) -> bool:
        """Whether the user has a password (an account a provider created has none)."""
        return await self.store.has_password(user.id)

    async def _refuse_password_off(self, user: User) -> None:
        """Forbidden when an admin turned password sign-in off and this is not the break-glass
        admin (said only once the password was right, like a disabled account)."""
        break_glass = await self.store.break_glass_user()
        if break_glass is not None and user.id != break_glass:
            raise Forbidden(PASSWORD_OFF, code="password_sign_in_off")

    async def session_user(self, token: str) -> User | None:
        """The user of a live admin-UI session, or None."""
        return await self.store.user_for_ui_session(
            credentials.hash_api_token(token), SESSION_IDLE_SECONDS, SESSION_MAX_SECONDS
        )

    async def sign_out(self, token: str) -> None:
        """End this session."""
        await self.store.delete_ui_session(credentials.hash_api_token(token))

    async def change_password(
        self, actor: User, current: object, new: object, client_address: str
    ) -> None:
        """Set the actor's new password once the current one is shown; a wrong one counts as a
        failed login (so this is no way around the login limit)."""
        if not isinstance(current, str):
            raise Invalid("current_password is a required string", code="missing_credentials")
        new_password = validate_password(new)
        if await self._check_password(actor.email, current[:PASSWORD_MAX], client_address) is None:
            raise Forbidden("the current password is wrong", code="wrong_password")
        await self.store.set_password_hash(actor.id, await credentials.hash_password(new_password))
        # Whoever knew the old password may hold a session: every one of them ends.
        await self.store.delete_ui_sessions_of(actor.id)

    async def _check_password(
        self, account: str, password: str, client_address: str
    ) -> tuple[User, str] | None:
        """The user and hash when the password is theirs, else None (a failure recorded; an
        account without a password never matches);
        RateLimited after too many failures from the address or for the account."""
        await refuse_when_limited(
            self.store, client_address, account, self.max_failures, self.failure_window
        )
        found = await self.store.user_credentials(account)
        password_ok = await credentials.verify_password(found[1] if found else None, password)
        if not found or not found[1] or not password_ok:
            await record_failure(self.store, client_address, account, self.failure_window)
            return None
        await self.store.clear_login_failures(client_address, account)
        return found[0], found[1]

    async def authenticate(self, bearer: str) -> User:
        """The user behind an access token or API token; Unauthorized otherwise."""
        if bearer.startswith(credentials.API_TOKEN_PREFIX):
            user = await self.store.user_for_token_hash(credentials.hash_api_token(bearer))
            if user is None:
                raise Unauthorized("the API token is not valid", code="invalid_token")
        else:
            user_id = credentials.read_access_token(bearer, self.signing_key)
            user = await self.store.get_user(user_id)
            if user is None:
                raise Unauthorized("the access token is not valid", code="invalid_token")
        if user.disabled:
            raise Unauthorized("this account is disabled", code="account_disabled")
        return user

    @staticmethod
    def require_admin(actor: User | None) -> None:
        """Forbidden unless the actor is an admin (None is the local command line)."""
        if actor is not None and not actor.is_admin:
            raise Forbidden("only admins manage users", code="admin_required")

    async def create_user(
        self, actor: User | None, email: object, password: object, role: object
    ) -> User:
        """Create a user; only admins may (actor None is the local command line)."""
        self.require_admin(actor)
        if role not in ROLES:
            raise Invalid("role is 'admin' or 'member'", code="invalid_role")
        address = validate_email(email)
        password_hash = await credentials.hash_password(validate_password(password))
        return await self.store.create_user(address, password_hash, role)

    async def list_users(self, actor: User) -> list[User]:
        """Every user; admins only."""
        self.require_admin(actor)
        return await self.store.list_users()

    async def update_user(
        self, actor: User, user_id: int, *, role: object = None, disabled: object = None
    ) -> User:
        """Change a user's role and/or disable or enable them (None: unchanged); admins only.
        Disabling ends their sessions; Conflict when no enabled admin would be left, or when
        it would demote or disable the break-glass admin."""
        self.require_admin(actor)
        if role is not None and role not in ROLES:
            raise Invalid("role is 'admin' or 'member'", code="invalid_role")
        if disabled is not None and not isinstance(disabled, bool):
            raise Invalid("disabled is true or false", code="invalid_disabled")
        checked_role: Role | None = "admin" if role == "admin" else "member" if role else None
        leaves = checked_role == "member" or disabled is True
        if leaves and await self.store.break_glass_user() == user_id:
            raise Conflict(
                "this admin is the break-glass account, the one who may still use a password;"
                " choose another on the sign-in settings first",
                code="break_glass_admin",
            )
        user = await self.store.change_user(user_id, role=checked_role, disabled=disabled)
        if user is None:
            raise NotFound("no such user", code="user_not_found")
        return user

    async def has_users(self) -> bool:
        """Whether any account exists yet."""
        return bool(await self.store.list_users())

    async def ensure_admin(self, email: str, password: str) -> None:
        """Create the first admin unless some user exists already."""
        if await self.has_users():
            return
        role: Role = "admin"
        # Conflict: another process starting at the same moment created it first.
        with contextlib.suppress(Conflict):
            await self.create_user(None, email, password, role)

    async def create_token(self, actor: User, name: object) -> tuple[ApiToken, str]:
        """A new API token for the actor; the token text is returned only here."""
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= TOKEN_NAME_MAX:
            raise Invalid(f"a token name has 1 to {TOKEN_NAME_MAX} characters", code="invalid_name")
        token, token_hash = credentials.new_api_token()
        return await self.store.create_token(actor.id, name.strip(), token_hash), token

    async def list_tokens(self, actor: User) -> list[ApiToken]:
        """The actor's own tokens (metadata only)."""
        return await self.store.list_tokens(actor.id)

    async def delete_token(self, actor: User, token_id: int) -> None:
        """Revoke one of the actor's tokens."""
        if not await self.store.delete_token(actor.id, token_id):
            raise NotFound("no such token", code="token_not_found")
