"""The SPDY/3 header compression dictionary (SPDY/3 draft, section 2.6.10.1).

Why a module of its own: the zlib streams of a SPDY/3 session are primed with this fixed
dictionary; both sides must use the same bytes, and they are data, not logic.
"""

from __future__ import annotations

from typing import Final

HEADER_DICTIONARY: Final = (
    b"\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post\x00\x00\x00\x03p"
    b"ut\x00\x00\x00\x06delete\x00\x00\x00\x05trace\x00\x00\x00\x06accept\x00"
    b"\x00\x00\x0eaccept-charset\x00\x00\x00\x0faccept-enco"
    b"ding\x00\x00\x00\x0faccept-language\x00\x00\x00\raccep"
    b"t-ranges\x00\x00\x00\x03age\x00\x00\x00\x05allow\x00\x00\x00\rauth"
    b"orization\x00\x00\x00\rcache-control\x00\x00\x00\nco"
    b"nnection\x00\x00\x00\x0ccontent-base\x00\x00\x00\x10cont"
    b"ent-encoding\x00\x00\x00\x10content-language"
    b"\x00\x00\x00\x0econtent-length\x00\x00\x00\x10content-lo"
    b"cation\x00\x00\x00\x0bcontent-md5\x00\x00\x00\rcontent"
    b"-range\x00\x00\x00\x0ccontent-type\x00\x00\x00\x04date\x00\x00"
    b"\x00\x04etag\x00\x00\x00\x06expect\x00\x00\x00\x07expires\x00\x00\x00\x04f"
    b"rom\x00\x00\x00\x04host\x00\x00\x00\x08if-match\x00\x00\x00\x11if-mo"
    b"dified-since\x00\x00\x00\rif-none-match\x00\x00\x00"
    b"\x08if-range\x00\x00\x00\x13if-unmodified-since"
    b"\x00\x00\x00\rlast-modified\x00\x00\x00\x08location\x00\x00\x00"
    b"\x0cmax-forwards\x00\x00\x00\x06pragma\x00\x00\x00\x12proxy"
    b"-authenticate\x00\x00\x00\x13proxy-authoriza"
    b"tion\x00\x00\x00\x05range\x00\x00\x00\x07referer\x00\x00\x00\x0bretr"
    b"y-after\x00\x00\x00\x06server\x00\x00\x00\x02te\x00\x00\x00\x07trail"
    b"er\x00\x00\x00\x11transfer-encoding\x00\x00\x00\x07upgra"
    b"de\x00\x00\x00\nuser-agent\x00\x00\x00\x04vary\x00\x00\x00\x03via\x00"
    b"\x00\x00\x07warning\x00\x00\x00\x10www-authenticate\x00\x00"
    b"\x00\x06method\x00\x00\x00\x03get\x00\x00\x00\x06status\x00\x00\x00\x06200"
    b" OK\x00\x00\x00\x07version\x00\x00\x00\x08HTTP/1.1\x00\x00\x00\x03ur"
    b"l\x00\x00\x00\x06public\x00\x00\x00\nset-cookie\x00\x00\x00\nkee"
    b"p-alive\x00\x00\x00\x06origin100101201202205"
    b"20630030230330430530630740240540"
    b"64074084094104114124134144154164"
    b"17502504505203 Non-Authoritative"
    b" Information204 No Content301 Mo"
    b"ved Permanently400 Bad Request40"
    b"1 Unauthorized403 Forbidden404 N"
    b"ot Found500 Internal Server Erro"
    b"r501 Not Implemented503 Service "
    b"UnavailableJan Feb Mar Apr May J"
    b"un Jul Aug Sept Oct Nov Dec 00:0"
    b"0:00 Mon, Tue, Wed, Thu, Fri, Sa"
    b"t, Sun, GMTchunked,text/html,ima"
    b"ge/png,image/jpg,image/gif,appli"
    b"cation/xml,application/xhtml+xml"
    b",text/plain,text/javascript,publ"
    b"icprivatemax-age=gzip,deflate,sd"
    b"chcharset=utf-8charset=iso-8859-"
    b"1,utf-,*,enq=0."
)
