import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countCorporateNumbers, isValidCorporateNumber } from '../../../../agent/src/inspect/detectors/corporate-number';
import { cardIssuer, countCreditCards, luhnValid } from '../../../../agent/src/inspect/detectors/credit-card';
import { countEmailAddresses } from '../../../../agent/src/inspect/detectors/email-address';
import { columnRole, labelledLine } from '../../../../agent/src/inspect/detectors/labels';
import { countMyNumbers, isValidMyNumber } from '../../../../agent/src/inspect/detectors/my-number';
import { normaliseText } from '../../../../agent/src/inspect/detectors/normalise';
import { countPhoneNumbers } from '../../../../agent/src/inspect/detectors/phone-number';
import { countPostalCodes } from '../../../../agent/src/inspect/detectors/postal-code';
import { ProseScanner, TableScanner } from '../../../../agent/src/inspect/detectors/text-scanner';
import { FindingTally } from '../../../../agent/src/inspect/findings';
import { PersonalDataKind as K } from '../../../../agent/src/generated/mamori/v1/events';
import { corporateNumberWithCheckDigit, digitSource, myNumberWithCheckDigit, withWrongLastDigit } from './check-digits';

const digits = digitSource(20240401);
const validMyNumbers = Array.from({ length: 200 }, () => myNumberWithCheckDigit(digits(11))).filter((n) => !/^(\d)\1+$/.test(n));

test('My Number: every number with the right check digit is found, and the same number with any other last digit is not', () => {
  for (const n of validMyNumbers) {
    assert.equal(countMyNumbers(`番号 ${n} です`), 1, n);
    for (let d = 0; d <= 9; d++) {
      const other = n.slice(0, 11) + String(d);
      if (other !== n) assert.equal(countMyNumbers(`番号 ${other} です`), 0, `${other} fails the check digit and is not a finding`);
    }
  }
});

test('My Number: 4-4-4 groups with one separator count; mixed separators, longer runs, decimals and card-like groups do not', () => {
  const n = validMyNumbers[0]!;
  const grouped = (sep: string) => `${n.slice(0, 4)}${sep}${n.slice(4, 8)}${sep}${n.slice(8)}`;
  assert.equal(countMyNumbers(`個人番号: ${grouped('-')}`), 1);
  assert.equal(countMyNumbers(`個人番号: ${grouped(' ')}`), 1);
  assert.equal(countMyNumbers(`${n.slice(0, 4)}-${n.slice(4, 8)} ${n.slice(8)}`), 0, 'mixed separators are ambiguous');
  assert.equal(countMyNumbers(`9${n}`), 0, 'inside a 13-digit run');
  assert.equal(countMyNumbers(`${n}7`), 0, 'inside a 13-digit run');
  assert.equal(countMyNumbers(`0.${n}`), 0, 'the digits of a decimal');
  assert.equal(countMyNumbers(`${grouped('-')}-1234`), 0, 'a fourth group makes it another number');
  assert.equal(countMyNumbers(`1234 ${grouped(' ')}`), 0, 'a group before makes it another number');
  assert.equal(countMyNumbers('000000000000'), 0, 'a placeholder of one repeated digit');
  assert.equal(countMyNumbers(normaliseText([...n].map((d) => String.fromCharCode(0xff10 + Number(d))).join(''))), 1, 'full-width digits after NFKC');
  assert.equal(countMyNumbers(`${n}, ${validMyNumbers[1]}`), 2);
  assert.ok(isValidMyNumber(n));
});

test('corporate number: check digit first; counted with a label, the T form of invoices or a header, never bare', () => {
  // 7000012050002 is the National Tax Agency's own corporate number (国税庁法人番号公表サイト).
  assert.ok(isValidCorporateNumber('7000012050002'));
  assert.equal(corporateNumberWithCheckDigit('000012050002'), '7000012050002', 'the independent implementation agrees with the published number');
  assert.equal(countCorporateNumbers('法人番号 7000012050002', ''), 1);
  assert.equal(countCorporateNumbers('登録番号：T7000012050002', ''), 1);
  assert.equal(countCorporateNumbers('T7000012050002', ''), 1, 'the qualified invoice form stands alone');
  assert.equal(countCorporateNumbers('7000012050002', '法人番号'), 1, 'labelled by the header or the line before');
  assert.equal(countCorporateNumbers('7000012050002', ''), 0, 'a bare 13-digit number is too often something else');
  assert.equal(countCorporateNumbers('timestamp 1700000000005', ''), 0);
  assert.equal(countCorporateNumbers('法人番号 8000012050002', ''), 0, 'wrong check digit');
  assert.equal(countCorporateNumbers('法人番号 97000012050002', ''), 0, 'inside a longer run');
  assert.equal(countCorporateNumbers('ABT7000012050002', '法人番号'), 1, 'T after letters is not the invoice form, but the label still counts it');
  for (let i = 0; i < 100; i++) {
    const valid = corporateNumberWithCheckDigit(digits(12));
    if (/^(\d)\1+$/.test(valid)) continue;
    assert.equal(countCorporateNumbers(`法人番号 ${valid}`, ''), 1, valid);
    const wrong = String((Number(valid[0]) % 9) + 1) + valid.slice(1);
    assert.equal(countCorporateNumbers(`法人番号 ${wrong}`, ''), 0, wrong);
  }
});

test('credit cards: published test numbers of each brand are found, separated in groups too; Luhn failures and unknown prefixes are not', () => {
  // Test card numbers published by payment processors (Stripe "Testing" documentation, PayPal sandbox).
  const published: Array<[string, string]> = [
    ['4242424242424242', 'Visa'],
    ['4012888888881881', 'Visa'],
    ['4222222222222', 'Visa'],
    ['5555555555554444', 'Mastercard'],
    ['2223003122003222', 'Mastercard'],
    ['5105105105105100', 'Mastercard'],
    ['378282246310005', 'American Express'],
    ['371449635398431', 'American Express'],
    ['3566002020360505', 'JCB'],
    ['3530111333300000', 'JCB'],
    ['36227206271667', 'Diners Club'],
    ['30569309025904', 'Diners Club'],
    ['6011111111111117', 'Discover'],
    ['6011000990139424', 'Discover'],
  ];
  for (const [number, brand] of published) {
    assert.equal(cardIssuer(number), brand, number);
    assert.equal(countCreditCards(`card ${number} exp 12/29`), 1, number);
  }
  assert.equal(countCreditCards('4242 4242 4242 4242'), 1);
  assert.equal(countCreditCards('4242-4242-4242-4242'), 1);
  assert.equal(countCreditCards('3782 822463 10005'), 1, 'Amex 4-6-5');
  assert.equal(countCreditCards('3622 720627 1667'), 1, 'Diners 4-6-4');
  assert.equal(countCreditCards(normaliseText('４２４２－４２４２－４２４２－４２４２')), 1, 'full-width');
  assert.equal(countCreditCards('4242 4242-4242 4242'), 0, 'mixed separators');
  assert.equal(countCreditCards('4242424242424241'), 0, 'Luhn fails');
  assert.ok(luhnValid('1234567812345670'));
  assert.equal(countCreditCards('1234567812345670'), 0, 'passes Luhn but no issuer starts with 1');
  assert.equal(countCreditCards('5555555555554444'.slice(0, 15)), 0, 'a Mastercard prefix at 15 digits');
  assert.equal(countCreditCards('94242424242424242'), 0, 'inside a longer run (17 digits, prefix 9)');
  assert.equal(countCreditCards('42424242424242424242'), 0, '20 digits is no card');
});

test('Japanese phone numbers: mobiles, fixed lines with 2-5 digit area codes, +81 forms; not dates, short runs or toll-free', () => {
  const positives = [
    '090-1234-5678',
    '080 1234 5678',
    '070-1234-5678',
    '050-1234-5678',
    '03-1234-5678',
    '06(1234)5678',
    '(03)1234-5678',
    '(090) 1234-5678',
    '045-123-4567',
    '0299-12-3456',
    '01267-2-3456',
    '09012345678',
    '0312345678',
    '+81-90-1234-5678',
    '+81 3 1234 5678',
    '+81 (0)3-1234-5678',
    '+81312345678',
    '+819012345678',
  ];
  for (const p of positives) assert.equal(countPhoneNumbers(`TEL: ${p} まで`), 1, p);
  assert.equal(countPhoneNumbers(normaliseText('電話番号：０９０－１２３４－５６７８')), 1, 'full-width digits and hyphens');
  assert.equal(countPhoneNumbers(normaliseText('電話 090ー1234ー5678')), 1, 'the long-vowel mark used as a dash');
  const negatives = [
    '2024-01-15',
    '123-4567-8901',
    '090-1234-567',
    '03-1234-56789',
    '12345678901',
    '0001234567',
    '0120-123-456',
    '0120123456',
    '0570-123-456',
    '0800-123-4567',
    '192.168.0.1',
    'v0.12.3456',
    '090-12-345678',
    '03-123-45678',
    '4242424242424242',
    'ID 031234567890',
    '+81-12',
    '0312345678901',
  ];
  for (const n of negatives) assert.equal(countPhoneNumbers(`値 ${n} 終`), 0, n);
});

test('postal codes count only in context (〒, 郵便番号, postal code)', () => {
  assert.equal(countPostalCodes('〒100-0001 東京都千代田区'), 1);
  assert.equal(countPostalCodes('〒 1000001'), 1);
  assert.equal(countPostalCodes(normaliseText('郵便番号：１００－０００１')), 1);
  assert.equal(countPostalCodes('Postal code: 100-0001'), 1);
  assert.equal(countPostalCodes('部品番号 100-0001'), 0, 'seven digits without context');
  assert.equal(countPostalCodes('100-0001'), 0);
  assert.equal(countPostalCodes('〒100-00012'), 0, 'too many digits');
});

test('e-mail addresses, not image names or bare domains', () => {
  assert.equal(countEmailAddresses('連絡先 taro.yamada@example.co.jp まで'), 1);
  assert.equal(countEmailAddresses('a+tag@sub.example.com, b_c@example.org'), 2);
  assert.equal(countEmailAddresses(normaliseText('ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ')), 1, 'full-width after NFKC');
  assert.equal(countEmailAddresses('icon@2x.png'), 0);
  assert.equal(countEmailAddresses('@example.com'), 0);
  assert.equal(countEmailAddresses('user@localhost'), 0);
  assert.equal(countEmailAddresses('no at sign'), 0);
});

test('column headers give names and addresses their meaning; company and product names are not people', () => {
  for (const h of ['氏名', '氏名（漢字）', 'お名前', 'フリガナ', 'ﾌﾘｶﾞﾅ', '姓', '名', 'Name', 'Full Name', 'last_name', 'Customer Name']) assert.equal(columnRole(h), 'name', h);
  for (const h of ['住所', '現住所', '送付先住所', 'Address', 'Street Address', 'address1', '番地']) assert.equal(columnRole(h), 'address', h);
  for (const h of ['郵便番号', '〒', 'Zip', 'Postal Code']) assert.equal(columnRole(h), 'postal-code', h);
  assert.equal(columnRole('法人番号'), 'corporate-number');
  for (const h of ['会社名', '商品名', 'ファイル名', 'ユーザー名', 'File Name', 'Email Address', 'IP Address', 'メールアドレス', '金額', '']) assert.equal(columnRole(h), null, h);
});

test('labelled lines: 氏名：/住所： with a value count, empty form fields and labels inside sentences do not', () => {
  assert.equal(labelledLine('氏名：山田 太郎'), 'name');
  assert.equal(labelledLine('【氏名】 山田太郎'.replace('】 ', '】:')), 'name');
  assert.equal(labelledLine('Name: Taro Yamada'), 'name');
  assert.equal(labelledLine('住所\t東京都千代田区千代田1-1'), 'address');
  assert.equal(labelledLine('氏名：＿＿＿＿＿＿'), null, 'an empty form field');
  assert.equal(labelledLine('氏名：'), null);
  assert.equal(labelledLine('ご記入の際は氏名：を楷書で'), null, 'not at the start of the line');
});

test('table scanner: one name and one address per record, patterns in every cell with the header as context', () => {
  const tally = new FindingTally();
  const table = new TableScanner(tally);
  const n = validMyNumbers[2]!;
  table.row(['姓', '名', '住所', '郵便番号', '法人番号', '電話', '備考']);
  table.row(['山田', '太郎', '東京都千代田区1-1', '100-0001', '7000012050002', '090-1234-5678', n]);
  table.row(['鈴木', '', '', '1000001', '', '', withWrongLastDigit(n)]);
  table.row(['', '', '', '', '', '', '']);
  assert.deepEqual(tally.toFindings(), [
    { kind: K.PERSONAL_DATA_KIND_MY_NUMBER, count: 1 },
    { kind: K.PERSONAL_DATA_KIND_CORPORATE_NUMBER, count: 1 },
    { kind: K.PERSONAL_DATA_KIND_PHONE_NUMBER, count: 1 },
    { kind: K.PERSONAL_DATA_KIND_POSTAL_CODE, count: 2 },
    { kind: K.PERSONAL_DATA_KIND_PERSON_NAME, count: 2 },
    { kind: K.PERSONAL_DATA_KIND_POSTAL_ADDRESS, count: 1 },
  ]);
});

test('prose scanner: the line before labels a corporate number written under its label', () => {
  const tally = new FindingTally();
  const prose = new ProseScanner(tally);
  prose.line('法人番号');
  prose.line('7000012050002');
  prose.line('注文番号');
  prose.line('7000012050002');
  assert.equal(tally.count(K.PERSONAL_DATA_KIND_CORPORATE_NUMBER), 1);
});
