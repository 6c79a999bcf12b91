"""Flask extensions, created unbound here and bound to the app by `create_app`."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
# Storage, limits and on/off come from the app's RATELIMIT_* settings (POLL_RATELIMIT_* in the environment).
limiter = Limiter(key_func=get_remote_address)
