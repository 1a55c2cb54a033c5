def test_roundtrip(manager):
    t = manager.create_new_session("u1", {"a": 1})
    assert manager.get_session(t.access_token.value, t.anti_csrf_token).session.user_id == "u1"


async def test_async_roundtrip(async_manager):
    t = await async_manager.create_new_session("u1", {"a": 1})
    assert (await async_manager.get_session(t.access_token.value)).session.jwt_payload == {"a": 1}
