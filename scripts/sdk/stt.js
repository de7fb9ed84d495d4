// The Node SDK's speech-to-text session through the binding (scripts/sdk-websocket-check).
// Configured by nothing but TELNYX_API_KEY and TELNYX_BASE_URL, as a function is.
const Telnyx = require('telnyx').default ?? require('telnyx');
const { SpeechToTextWS } = require('telnyx/resources/speech-to-text/ws');

const client = new Telnyx();
const ws = new SpeechToTextWS(client, { transcription_engine: 'Deepgram', input_format: 'wav' });
const timer = setTimeout(() => {
  console.log('no event within 10 s');
  process.exit(1);
}, 10000);
ws.on('event', (event) => {
  console.log('event:', JSON.stringify(event));
  clearTimeout(timer);
  ws.close();
});
ws.on('error', (err) => console.log('error:', err && err.message));
// Queued until the session is open.
ws.sendRaw(Buffer.alloc(320));
