//! POST /users/: a new password account.

use crate::auth::{passwords, session};
use crate::domain::User;
use crate::http::ApiRequest;
use crate::store::Claim;
use crate::validate::{self, ProfileInput};
use crate::{clock, ApiError, ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let fields = req.fields()?;
    let username = validate::username(&fields, "username")?;
    let password = validate::password(&fields, "password")?;
    let profile = ProfileInput::parse(&fields, true)?;

    // Numbers and the hash are independent: one round trip of latency for all three.
    let (pk, roomid, hash) = tokio::try_join!(
        async { ctx.store.next_user_pk().await.map_err(ApiError::from) },
        async { ctx.store.next_room_number().await.map_err(ApiError::from) },
        passwords::hash(password)
    )?;
    let lookalike = Claim::lookalike(&username);
    let mut user = User::new(pk, username.into_string(), "0", roomid, clock::now_rfc3339_micros());
    profile.apply_to(&mut user);
    let issued = session::start(ctx, pk, user.token_epoch)?;
    ctx.store.create_user(&user, Some(&hash), &[lookalike], &issued.grant, None).await?;
    Ok(issued.response("创建成功", &user))
}
