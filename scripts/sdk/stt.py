"""The Python SDK's speech-to-text session through the binding (scripts/sdk-websocket-check).

Configured by nothing but TELNYX_API_KEY and TELNYX_BASE_URL, as a function is.
"""

from telnyx import Telnyx

client = Telnyx()
with client.speech_to_text.transcribe(
    extra_query={"transcription_engine": "Deepgram", "input_format": "wav"}
) as conn:
    conn.send_raw(b"\x00" * 320)
    print("event:", conn.recv_bytes().decode())
print("balance:", client.balance.retrieve())
