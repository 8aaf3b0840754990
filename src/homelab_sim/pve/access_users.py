"""Users and API tokens: /access/users, /access/users/{userid},
/access/users/{userid}/token/{tokenid} (pve-access-control ``API2/User.pm``).

A token's secret (a UUID) is returned once, by its creation; ``privsep`` defaults to 1, and a
privilege-separated token holds only what its own ACLs give it that its user also holds.
Deleting a token deletes its ACL entries.
"""

from __future__ import annotations

from typing import Any

from homelab_sim.pve.auth import new_secret
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail, param_fail
from homelab_sim.pve.state import TokenDef, UserDef

_USER_FIELDS = ("comment", "firstname", "lastname", "email")


def user_list(ctx: Ctx, p: dict[str, Any]) -> Any:
    """Users the caller may see (User.Modify or Sys.Audit on /access/groups), and itself."""
    own = ctx.ident.userid
    see_all = any(ctx.can("/access/groups", priv) for priv in ("User.Modify", "Sys.Audit"))
    out = []
    for userid, user in sorted(ctx.state.users.items()):
        if not (see_all or userid == own):
            continue
        if "enabled" in p and bool(p["enabled"]) != user.enable:
            continue
        entry = _user_view(user)
        entry["userid"] = userid
        entry["realm-type"] = userid.rpartition("@")[2]
        if p.get("full"):
            entry["tokens"] = [
                {"tokenid": tid.split("!", 1)[1], **_token_view(token)}
                for tid, token in sorted(ctx.state.tokens.items())
                if token.userid == userid
            ]
        out.append(entry)
    return out


def user_get(ctx: Ctx, p: dict[str, Any]) -> Any:
    user = _user(ctx, str(p["userid"]))
    out = _user_view(user)
    out["groups"] = []
    out["tokens"] = {
        tid.split("!", 1)[1]: _token_view(token)
        for tid, token in sorted(ctx.state.tokens.items())
        if token.userid == user.userid
    }
    return out


def user_create(ctx: Ctx, p: dict[str, Any]) -> Any:
    userid = str(p["userid"])
    if userid in ctx.state.users:
        raise fail(f"create user failed: user '{userid}' already exists")
    if p.get("groups"):
        group = str(p["groups"]).replace(";", ",").split(",")[0]
        raise fail(f"create user failed: no such group '{group}'")
    ctx.state.users[userid] = UserDef(
        userid=userid,
        enable=bool(p.get("enable", True)),
        expire=int(p.get("expire") or 0),
        **{key: str(p[key]) for key in _USER_FIELDS if p.get(key)},
    )
    ctx.changed = True
    return None


def token_get(ctx: Ctx, p: dict[str, Any]) -> Any:
    user = _user(ctx, str(p["userid"]))
    return _token_view(_token(ctx, user.userid, str(p["tokenid"])))


def token_create(ctx: Ctx, p: dict[str, Any]) -> Any:
    user = _user(ctx, str(p["userid"]))
    tokenid = f"{user.userid}!{p['tokenid']}"
    if tokenid in ctx.state.tokens:
        raise param_fail({"tokenid": "Token already exists."})
    token = TokenDef(
        tokenid=tokenid,
        privsep=bool(p.get("privsep", True)),
        expire=int(p.get("expire") or 0),
        comment=str(p["comment"]) if p.get("comment") else None,
    )
    secret = new_secret()
    ctx.state.tokens[tokenid] = token
    ctx.auth.add_secret(tokenid, secret)
    ctx.changed = True
    info: dict[str, Any] = {"privsep": int(token.privsep)}
    if "expire" in p:
        info["expire"] = token.expire
    if token.comment:
        info["comment"] = token.comment
    return {"info": info, "value": secret.reveal(), "full-tokenid": tokenid}


def token_delete(ctx: Ctx, p: dict[str, Any]) -> Any:
    user = _user(ctx, str(p["userid"]))
    token = _token(ctx, user.userid, str(p["tokenid"]))
    del ctx.state.tokens[token.tokenid]
    ctx.state.acl = [
        e for e in ctx.state.acl if not (e.type == "token" and e.ugid == token.tokenid)
    ]
    ctx.auth.drop_secret(token.tokenid)
    ctx.changed = True
    return None


def _user(ctx: Ctx, userid: str) -> UserDef:
    user = ctx.state.users.get(userid)
    if user is None:
        raise fail(f"no such user ('{userid}')")
    return user


def _token(ctx: Ctx, userid: str, name: str) -> TokenDef:
    token = ctx.state.tokens.get(f"{userid}!{name}")
    if token is None:
        raise fail(f"no such token '{name}' for user '{userid}'")
    return token


def _user_view(user: UserDef) -> dict[str, Any]:
    out: dict[str, Any] = {"enable": int(user.enable), "expire": user.expire}
    out.update({key: getattr(user, key) for key in _USER_FIELDS if getattr(user, key)})
    return out


def _token_view(token: TokenDef) -> dict[str, Any]:
    out: dict[str, Any] = {"privsep": int(token.privsep), "expire": token.expire}
    if token.comment:
        out["comment"] = token.comment
    return out


ROUTES = {
    ("GET", "/access/users"): user_list,
    ("POST", "/access/users"): user_create,
    ("GET", "/access/users/{userid}"): user_get,
    ("GET", "/access/users/{userid}/token/{tokenid}"): token_get,
    ("POST", "/access/users/{userid}/token/{tokenid}"): token_create,
    ("DELETE", "/access/users/{userid}/token/{tokenid}"): token_delete,
}
