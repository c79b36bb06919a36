// Package moysklad is a focused client of the MoySklad JSON API 1.2 for the
// customer-order workflow of shipbridge: listing and reading orders (with
// the effective unit weight of every position), reading and creating order
// statuses and custom attributes, changing an order's status and attributes
// with one partial PUT, and changing many orders with bulk requests. It
// keeps within MoySklad's rate and concurrency limits (reading the
// rate-limit headers against the weight of a request) and retries only
// what may be retried.
//
// # Sources of every decoded shape
//
// Each answer the client decodes, with where its shape comes from. "Schema"
// is the official OpenAPI specification, repository
// moysklad/api-remap-1.2-openapi-specification at 6d9289bd (paths under
// src/components/schemas/ and src/paths/; its own test fixtures under
// tests/fixtures/ are bodies of MoySklad's test stand). "Doc" is the
// official documentation, repository moysklad/api-remap-1.2-doc at
// ff5485df (files under md/). Copies used by the tests are in testdata/,
// listed with their provenance in testdata/SOURCES.md. Where the sources
// disagree the client accepts every form.
//
//   - GET /entity/customerorder (ListOrders, ListOrdersPages): {context,
//     meta{size,limit,offset,nextHref}, rows[]} — schema
//     dictionary/customerOrderList.yaml, common/metaList.yaml; doc
//     documents/_customerOrder.md «Получить список Заказов покупателей»
//     (testdata/customerorder_list.doc.json).
//   - A customer order (rows above; GET and PUT /entity/customerorder/{id})
//     → Order: schema dictionary/customerOrder.yaml (sum, payedSum,
//     vatEnabled, vatIncluded, state, agent, positions as a
//     CustomerOrderPositionList with rows only when expanded, attributes,
//     shipmentAddress, shipmentAddressFull), fixture customer_order.json
//     (testdata/oas_customer_order.schema.json); doc
//     documents/_customerOrder.md field table and examples. Money arrives
//     as float kopecks and is rounded to int64.
//   - A position (positions.rows; GET /entity/customerorder/{id}/positions)
//     → Position: schema dictionary/customerOrderPosition.yaml (quantity,
//     price in kopecks, discount %, vat, vatEnabled, assortment) and
//     customerOrderPositionList.yaml; doc example
//     (testdata/customerorder_positions.doc.json).
//   - An assortment (position.assortment, expanded or a bare meta) →
//     Assortment: schema dictionary/product.yaml and bundle.yaml (weight,
//     volume), variant.yaml (no weight; product a meta reference),
//     service.yaml (no weight), consignment.yaml (assortment); fixtures
//     product.json, variant.json, bundle.json (testdata/oas_*.schema.json).
//     Also the answers of GET /entity/{product,variant,bundle,consignment}/{id}.
//   - GET /entity/bundle/{id}/components → {meta, rows[BundleComponent]}:
//     schema dictionary/bundleComponentList.yaml, bundleComponent.yaml
//     (quantity, assortment), fixture bundle_component.json; doc
//     dictionaries/_bundle.md (components is a MetaArray, +Expand).
//   - The order's agent, when expanded → Counterparty: schema
//     dictionary/counterparty.yaml; doc dictionaries/_counterparty.md.
//   - shipmentAddressFull → Address: doc documents/_customerOrder.md
//     «Атрибуты сущности Адрес доставки» (postalCode, country and region as meta, city,
//     street, house, apartment, addInfo, comment); a real integration's
//     address with only addInfo and comment (CoraxTR/warehouseHelper,
//     reference moysklad-api.md §3).
//   - Attribute values on an order → Attribute: doc _general.md «Атрибуты
//     доп. поля со значением» (value typed by type: string, text, link,
//     time, long, double, boolean, file name, {meta,name} of a dictionary
//     element); doc workbook/_workbook_attributes_crud.md for customentity
//     (testdata/counterparty_with_customentity_attribute.doc.json).
//   - GET /entity/customerorder/metadata → Metadata: schema
//     common/documentMetadata.yaml, whose attributes is an
//     AttributeMetaInfoList — a collection reference {"meta":{…,"size"}}
//     (fixture document_metadata.json) or, expanded, a collection with rows
//     that may be fewer than size (fixture document_metadata_expanded.json);
//     the doc page documents/_customerOrder.md shows an inline array
//     (testdata/customerorder_metadata_states_attributes.doc.json). All
//     three decode; the rest is read from the list below.
//   - GET /entity/customerorder/metadata/attributes → {meta, rows[]}: schema
//     common/attributeMetaInfoList.yaml, path
//     documents/customerorders/customerorder-metadata-attribute.yaml (limit,
//     offset); doc _general.md «Получить все дополнительные поля для
//     указанного типа», whose list meta has no size
//     (testdata/attributes_metadata_all_types.doc.json).
//   - An attribute definition (the two above; POST …/metadata/attributes)
//     → AttributeDef: schema common/attributeMetaInfo.yaml (customEntityMeta
//     for customentity); doc _general.md «Атрибуты описания доп. поля».
//     The doc example omits ids: they are taken from the meta href.
//   - A state (metadata.states; POST …/metadata/states) → State: schema
//     dictionary/state.yaml; doc dictionaries/_states.md.
//   - POST /entity/customerorder with an array (UpdateOrders) → an array,
//     one element per request element, each the stored order (meta, id,
//     updated are read) or {"errors":[…]} without meta: schema path
//     documents/customerorders/customerorders-batch.yaml (array of
//     BatchResponseEntity, common/entityBase.yaml) and common/error.yaml;
//     doc documents/_customerOrder.md «Массовое создание и обновление
//     Заказов покупателей» and _general.md «Создание и обновление
//     нескольких объектов»; the
//     index-based mapping of errors as in wmakeev/moysklad
//     (MoyskladCollectionError.errorsIndexes). Such an array is read with a
//     non-2xx status too.
//   - GET /context/employee (Ping) → only id: the employee object of doc
//     dictionaries/_employee.md (the path itself appears in doc _async.md
//     and _errors.md, code 55006).
//   - Errors → Error: {"errors":[{error, code, parameter, moreInfo, line,
//     column, …}]} — schema common/error.yaml, errorElement.yaml; doc
//     _general.md «Обработка ошибок» and workbook/_workbook_first_steps.md
//     (testdata/error_3000_required_field.doc.json); an array of such
//     objects — schema common/errorOrArray.yaml; 415 without a body — doc
//     _general.md «Сжатие содержимого ответов»; codes from doc _errors.md;
//     the live moreInfo form …/#error_NNNN from wmakeev/moysklad's tests.
//   - Rate-limit headers (X-RateLimit-Limit, X-RateLimit-Remaining,
//     X-Lognex-Retry-TimeInterval, X-Lognex-Reset, X-Lognex-Retry-After):
//     doc _general.md «Обработка ошибок»; a real trace in
//     moysklad/api-vendor-1.0-doc developer_guide/_widgets.md; request
//     weights from doc _restrictions.md.
//   - Date-times → Moment: doc _general.md «Формат даты и времени» (Moscow
//     time, with or without milliseconds).
//
// Not decoded from MoySklad by this package: webhooks and the audit log
// (their samples are only checked in tests), file downloads.
package moysklad
