// Drives a facewarden server through CompreFace's own JavaScript SDK, unchanged
// (@exadel/compreface-js-sdk, pinned in package-lock.json), and prints what each
// call answered as one JSON object, {step: {ok, value} | {ok: false, status, data}},
// into the file CF_OUT (not stdout: the SDK's subject list prints its URL and API key
// there). Run by tests/api/test_compreface_js_sdk.py, which asserts on it.
//
// Environment: CF_SDK (the SDK's index.js), CF_URL (http://127.0.0.1:PORT),
// CF_KEY (an operator key), CF_PHOTOS (../shared/data/faces), CF_OUT, CF_IMAGES (an
// http://127.0.0.1:PORT/ URL serving the examples folder: the SDK fetches an image
// given by URL and streams it on, a chunked multipart body). The SDK's own habits
// are kept: relative paths start with "./", a fresh face collection per call
// (its functions grow their URL on every call), an options object on recognize.
import fs from 'fs';
import path from 'path';
import { pathToFileURL } from 'url';

const { CompreFace } = await import(pathToFileURL(process.env.CF_SDK).href);
const [server, port] = process.env.CF_URL.split(/:(?=\d+$)/);
const key = process.env.CF_KEY;
const examples = path.join(process.env.CF_PHOTOS, 'face_recognition', 'examples');
process.chdir(examples);  // the SDK sends a path as a file only when it starts with "./"

const base64 = (name) => fs.readFileSync(path.join(examples, name)).toString('base64');
const results = {};
const step = async (name, call) => {
  try {
    results[name] = { ok: true, value: await call() };
  } catch (error) {
    results[name] = error.response
      ? { ok: false, status: error.response.status, data: error.response.data }
      : { ok: false, status: null, data: String(error.message) };
  }
  return results[name];
};

const compreface = new CompreFace(server, port, {});
const recognition = compreface.initFaceRecognitionService(key);
const faces = () => recognition.getFaceCollection();
const subjects = () => recognition.getSubjects();

// -- subjects and examples, by path and by base64 ---------------------------------
await step('subject_add', () => subjects().add('Ada Lovelace'));
await step('subject_add_again', () => subjects().add('ADA LOVELACE'));
const obama = await step('add_path', () => faces().add('./obama.jpg', 'Barack Obama'));
await step('add_base64', () => faces().add(base64('obama2.jpg'), 'barack obama'));
const biden = await step('add_biden', () => faces().add(base64('biden.jpg'), 'Joe Biden'));
await step('add_buffer', () => faces().add(fs.readFileSync('biden.jpg'), 'Joe Biden'));
await step('add_no_face', () => faces().add('../../dlib/examples/faces/dogs.jpg', 'Dogs'));
await step('list', () => faces().list());
await step('subjects', () => subjects().list());

// -- recognize, verify, detect ------------------------------------------------------
await step('recognize_path', () =>
  recognition.recognize('./knn_examples/test/obama1.jpg', { prediction_count: 3 }));
await step('recognize_base64_plugins', () =>
  recognition.recognize(base64('knn_examples/test/obama_and_biden.jpg'), {
    limit: 1, det_prob_threshold: 0.8, face_plugins: 'landmarks,calculator,age,gender', status: true,
  }));
await step('recognize_no_face', () =>
  recognition.recognize('../../dlib/examples/faces/dogs.jpg', {}));
await step('verify_example', () =>
  faces().verify('./knn_examples/test/obama1.jpg', obama.value.image_id, { limit: 0 }));
await step('verify_other_example', () =>
  faces().verify(base64('knn_examples/test/obama1.jpg'), biden.value.image_id, { limit: 0 }));
const detection = compreface.initFaceDetectionService(key);
await step('detect', () =>
  detection.detect('./two_people.jpg', { limit: 0, face_plugins: 'landmarks,pose', status: true }));
await step('detect_limit', () => detection.detect(base64('two_people.jpg'), { limit: 1 }));
const verification = compreface.initFaceVerificationService(key);
await step('verification_path', () =>
  verification.verify('./obama.jpg', './two_people.jpg', { limit: 0 }));
await step('verification_base64', () =>
  verification.verify(base64('obama2.jpg'), base64('biden.jpg'), { limit: 0 }));
await step('recognize_url', () =>
  recognition.recognize(`${process.env.CF_IMAGES}knn_examples/test/obama1.jpg`, { limit: 0 }));
await step('verification_urls', () =>
  verification.verify(`${process.env.CF_IMAGES}obama.jpg`, `${process.env.CF_IMAGES}two_people.jpg`,
    { limit: 0 }));
await step('bad_key', () =>
  compreface.initFaceRecognitionService('00000000-0000-0000-0000-000000000002').recognize(
    base64('obama.jpg'), {}));

// -- rename, delete -----------------------------------------------------------------
await step('rename', () => subjects().rename('ada lovelace', 'Ada King'));
await step('delete_subject', () => subjects().delete('Ada King'));
await step('delete_subject_again', () => subjects().delete('Ada King'));
await step('delete_image', () => faces().delete(obama.value.image_id));
await step('delete_image_again', () => faces().delete(obama.value.image_id));
await step('delete_multiple', () =>
  faces().delete_multiple_images([biden.value.image_id, '00000000-0000-0000-0000-000000000000']));
await step('add_again', () => faces().add('./biden.jpg', 'Joe Biden'));
await step('delete_all_subject', () => faces().delete_all_subject('Joe Biden'));
await step('add_last', () => faces().add('./biden.jpg', 'Joe Biden'));
await step('delete_all_subjects', () => subjects().deleteAll());
await step('subjects_after', () => subjects().list());

fs.writeFileSync(process.env.CF_OUT, JSON.stringify(results));
