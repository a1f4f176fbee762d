//! /rooms/: the list and single room are public; creating, changing and deleting need a
//! token, and changes are for the room's creator only.

use serde_json::Value;

use crate::auth::session::{self, Session};
use crate::domain::Room;
use crate::http::{ApiRequest, ApiResponse};
use crate::store::rooms::RoomPage;
use crate::validate::{self, Fields};
use crate::{ApiError, ApiResult, Context};

pub const PAGE_SIZE_DEFAULT: u64 = 30;
pub const PAGE_SIZE_MAX: u64 = 100;
/// API.md: `page * pageSize` beyond this is 400 `use_cursor`.
pub const MAX_PAGE_DEPTH: u64 = 10_000;
pub const ALIAS_MAX: usize = 64;

/// GET /rooms/?page=&pageSize=[&after=]: active rooms in pk order.
pub async fn list(ctx: &Context, req: ApiRequest) -> ApiResult {
    let page = query_number(&req, "page")?.unwrap_or(1);
    let size = query_number(&req, "pageSize")?.unwrap_or(PAGE_SIZE_DEFAULT).min(PAGE_SIZE_MAX);
    // `after` (the previous page's `next`) reads only this page, however deep it is.
    let after = req
        .query_param("after")
        .filter(|a| !a.is_empty())
        .map(|a| validate::parse_pk(a).map_err(|_| ApiError::invalid("after", "必须是上一页返回的 next")));
    let after = after.transpose()?;
    let skip = match after {
        Some(_) => 0,
        // Every room before the page is read and passed over: the depth is bounded, and a
        // product of client numbers that overflows is just as deep.
        None => match page.checked_mul(size) {
            Some(end) if end <= MAX_PAGE_DEPTH => end - size,
            _ => return Err(ApiError::UseCursor { max_offset: MAX_PAGE_DEPTH }),
        },
    };
    let (total, rooms) = if skip == 0 {
        tokio::try_join!(ctx.store.count_active_rooms(), ctx.store.list_active_rooms(after, 0, size))?
    } else {
        // A page past the end is answered from the count alone: no index read.
        let total = ctx.store.count_active_rooms().await?;
        let rooms = if skip >= total {
            RoomPage { rooms: Vec::new(), next: None }
        } else {
            ctx.store.list_active_rooms(None, skip, size).await?
        };
        (total, rooms)
    };
    let total_pages = total.div_ceil(size).max(1);
    let mut fields = serde_json::Map::new();
    fields.insert("pageSize".into(), size.to_string().into());
    fields.insert("currentPage".into(), page.to_string().into());
    fields.insert("totalPage".into(), total_pages.to_string().into());
    fields.insert("total".into(), total.to_string().into());
    fields.insert("next".into(), rooms.next.map(|pk| pk.to_string()).unwrap_or_default().into());
    fields.insert("results".into(), Value::Array(rooms.rooms.iter().map(|r| Value::Object(r.to_fields())).collect()));
    Ok(ApiResponse::ok("查询成功", fields))
}

/// GET /rooms/{pk}/
pub async fn get(ctx: &Context, req: ApiRequest) -> ApiResult {
    let pk = req.path_pk()?;
    let room = ctx.store.get_room(pk).await?.ok_or(ApiError::NotFound("room"))?;
    Ok(ApiResponse::ok("查询成功", room.to_fields()))
}

/// POST /rooms/: a new room owned by the caller, numbered from the space accounts share.
pub async fn create(ctx: &Context, req: ApiRequest) -> ApiResult {
    let fields = req.fields()?;
    let room_alias = alias(&fields)?.ok_or(ApiError::MissingField { field: "room_alias" })?;
    let active = fields.optional_bool("active")?.unwrap_or(false);
    let session = session::authenticate(ctx, &req, Some(&fields)).await?;

    let (pk, roomid) = tokio::try_join!(ctx.store.next_room_pk(), ctx.store.next_room_number())?;
    let room = Room { pk, roomid, room_alias, active, owner_pk: session.user.pk, version: 0 };
    ctx.store.create_room(&room, ctx.config.room_quota).await?;
    Ok(ApiResponse::ok("创建成功", room.to_fields()).with_status(201))
}

/// PUT /rooms/{pk}/: `active` and `room_alias` of one's own room.
pub async fn update(ctx: &Context, req: ApiRequest) -> ApiResult {
    let pk = req.path_pk()?;
    let fields = req.fields()?;
    let active = fields.optional_bool("active")?;
    let room_alias = alias(&fields)?;
    let session = session::authenticate(ctx, &req, Some(&fields)).await?;
    let room = owned_room(ctx, &session, pk).await?;

    let mut updated = room.clone();
    if let Some(active) = active {
        updated.active = active;
    }
    if let Some(alias) = room_alias {
        updated.room_alias = alias;
    }
    if updated == room {
        return Ok(ApiResponse::ok("修改成功", room.to_fields()));
    }
    let saved = ctx.store.update_room(&room, &updated).await?;
    Ok(ApiResponse::ok("修改成功", saved.to_fields()))
}

/// DELETE /rooms/{pk}/: 204 with an empty body.
pub async fn delete(ctx: &Context, req: ApiRequest) -> ApiResult {
    let pk = req.path_pk()?;
    let fields = req.fields()?;
    let session = session::authenticate(ctx, &req, Some(&fields)).await?;
    let room = owned_room(ctx, &session, pk).await?;
    ctx.store.delete_room(&room).await?;
    Ok(ApiResponse::no_content())
}

async fn owned_room(ctx: &Context, session: &Session, pk: u64) -> Result<Room, ApiError> {
    let room = ctx.store.get_room(pk).await?.ok_or(ApiError::NotFound("room"))?;
    if room.owner_pk != session.user.pk {
        return Err(ApiError::Forbidden);
    }
    Ok(room)
}

fn alias(fields: &Fields) -> Result<Option<String>, ApiError> {
    validate::room_alias(fields, ALIAS_MAX)
}

/// A positive integer query parameter; anything else is 400, never a silent default.
fn query_number(req: &ApiRequest, name: &'static str) -> Result<Option<u64>, ApiError> {
    req.query_param(name)
        .map(|raw| validate::parse_positive(raw).ok_or_else(|| ApiError::invalid(name, "必须是正整数")))
        .transpose()
}
